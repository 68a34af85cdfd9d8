from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway import cli
from gateway.claude_settings import (
    BACKUP_SUFFIX,
    MANIFEST_SUFFIX,
    ClaudeSettingsError,
    applied_url,
    plan_apply,
    plan_restore,
    settings_path,
    token_helper_command,
    write,
)
from gateway.config import GatewayConfig
from gateway.envline import NO_TOKEN, claude_env

CONFIG = GatewayConfig(port=8123)
GATEWAY_ENV = claude_env(CONFIG, token=None)

USER_SETTINGS: dict[str, Any] = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "model": "opus",
    "permissions": {"allow": ["Bash(ls:*)"]},
    "env": {
        "ANTHROPIC_BASE_URL": "https://corp-proxy.example",
        "API_TIMEOUT_MS": "600000",
        "MY_OWN": "kept",
    },
}


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def apply(path: Path, config: GatewayConfig = CONFIG, **kwargs: Any) -> None:
    write(plan_apply(config, token_set=kwargs.pop("token_set", False), path=path, **kwargs))


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER_SETTINGS, indent=4), encoding="utf-8")
    return path


def test_the_path_follows_claude_config_dir(tmp_path: Path) -> None:
    assert settings_path({"CLAUDE_CONFIG_DIR": str(tmp_path / "cc")}) == (
        tmp_path / "cc" / "settings.json"
    )
    assert settings_path({}, home=tmp_path) == tmp_path / ".claude" / "settings.json"
    assert settings_path({"CLAUDE_CONFIG_DIR": ""}, home=tmp_path) == (
        tmp_path / ".claude" / "settings.json"
    )


def test_apply_merges_the_variables_into_the_env_and_keeps_everything_else(
    settings: Path,
) -> None:
    apply(settings)

    data = read(settings)
    assert data == {**USER_SETTINGS, "env": {**USER_SETTINGS["env"], **GATEWAY_ENV}}
    # The user's keys keep their place; the gateway's new ones follow.
    assert list(data) == list(USER_SETTINGS)
    assert list(data["env"])[:3] == ["ANTHROPIC_BASE_URL", "API_TIMEOUT_MS", "MY_OWN"]
    assert data["env"]["ANTHROPIC_AUTH_TOKEN"] == NO_TOKEN
    assert "apiKeyHelper" not in data
    assert applied_url(settings) == "http://127.0.0.1:8123"


def test_apply_records_what_it_replaced_and_backs_up_the_original(settings: Path) -> None:
    original = settings.read_bytes()
    apply(settings)

    manifest = read(settings.with_name("settings.json" + MANIFEST_SUFFIX))
    entries = {e["key"]: e for e in manifest["keys"]}
    assert set(entries) == {f"env.{name}" for name in GATEWAY_ENV}
    assert entries["env.ANTHROPIC_BASE_URL"] == {
        "key": "env.ANTHROPIC_BASE_URL",
        "previous_present": True,
        "previous": "https://corp-proxy.example",
        "written_present": True,
        "written": "http://127.0.0.1:8123",
    }
    assert entries["env.ANTHROPIC_AUTH_TOKEN"]["previous_present"] is False
    assert settings.with_name("settings.json" + BACKUP_SUFFIX).read_bytes() == original


def test_apply_creates_a_missing_file_user_only(tmp_path: Path) -> None:
    path = tmp_path / "cc" / "settings.json"
    apply(path)
    assert read(path) == {"env": GATEWAY_ENV}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name("settings.json" + BACKUP_SUFFIX).exists()


def test_restore_reverts_only_the_keys_it_set(settings: Path) -> None:
    apply(settings)
    write(plan_restore(settings))

    assert read(settings) == USER_SETTINGS
    assert not settings.with_name("settings.json" + MANIFEST_SUFFIX).exists()
    # Restored, the backup kept while applied goes with the manifest: no stray file (#13).
    assert not settings.with_name("settings.json" + BACKUP_SUFFIX).exists()
    assert sorted(p.name for p in settings.parent.iterdir()) == ["settings.json"]


def test_restore_keeps_what_the_user_changed_after_apply(settings: Path) -> None:
    apply(settings)
    data = read(settings)
    data["env"]["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9999"  # the user's own edit
    data["env"]["ADDED_LATER"] = "1"
    data["theme"] = "dark"
    settings.write_text(json.dumps(data), encoding="utf-8")

    write(plan_restore(settings))

    restored = read(settings)
    assert restored["env"] == {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9999",
        "API_TIMEOUT_MS": "600000",
        "MY_OWN": "kept",
        "ADDED_LATER": "1",
    }
    assert restored["theme"] == "dark"


def test_restore_removes_an_env_object_it_created(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"model": "sonnet"}', encoding="utf-8")
    apply(path)
    write(plan_restore(path))
    assert read(path) == {"model": "sonnet"}


def test_reapplying_keeps_the_original_values_for_restore(settings: Path) -> None:
    apply(settings)
    apply(settings, GatewayConfig(port=9400))
    assert read(settings)["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9400"
    assert applied_url(settings) == "http://127.0.0.1:9400"

    write(plan_restore(settings))
    assert read(settings) == USER_SETTINGS


def test_the_file_mode_is_kept(settings: Path) -> None:
    os.chmod(settings, 0o640)
    apply(settings)
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640
    write(plan_restore(settings))
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640


def test_a_symlinked_settings_file_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "claude-settings.json"
    real.parent.mkdir()
    real.write_text("{}", encoding="utf-8")
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    apply(link)
    assert link.is_symlink()
    assert read(real) == {"env": GATEWAY_ENV}


def test_with_a_token_the_helper_is_written_and_no_credential(settings: Path) -> None:
    data = read(settings)
    data["env"]["ANTHROPIC_AUTH_TOKEN"] = "sk-old-credential"
    settings.write_text(json.dumps(data), encoding="utf-8")

    apply(settings, token_set=True, helper="lmgate token")

    applied = read(settings)
    assert applied["apiKeyHelper"] == "lmgate token"
    assert "ANTHROPIC_AUTH_TOKEN" not in applied["env"]
    assert "ANTHROPIC_API_KEY" not in applied["env"]
    # The manifest keeps the replaced value so that restore can put it back.
    write(plan_restore(settings))
    assert read(settings) == data


def test_the_helper_command_prints_the_token(tmp_path: Path) -> None:
    command = token_helper_command()
    assert shlex.split(command)[0] == sys.executable
    env = {**os.environ, "LMGATE_TOKEN": "tok-123", "HOME": str(tmp_path)}
    # Claude Code runs the helper through /bin/sh.
    sh = shutil.which("sh") or "/bin/sh"
    done = subprocess.run(
        [sh, "-c", command], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "tok-123"


def test_the_plan_shows_the_change_before_anything_is_written(settings: Path) -> None:
    before = settings.read_text(encoding="utf-8")
    plan = plan_apply(CONFIG, token_set=False, path=settings)
    assert settings.read_text(encoding="utf-8") == before
    assert plan.changed
    diff = plan.diff()
    assert '-        "ANTHROPIC_BASE_URL": "https://corp-proxy.example",' in diff
    assert '+        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8123",' in diff
    assert f'+        "ANTHROPIC_AUTH_TOKEN": "{NO_TOKEN}",' in diff
    # The file's own indent is kept, so untouched lines are not in the diff.
    changed = [line for line in diff.splitlines()[2:] if line[:1] in "+-"]
    assert not [line for line in changed if '"model"' in line or "permissions" in line]


def test_applying_the_same_settings_twice_changes_nothing(settings: Path) -> None:
    apply(settings)
    assert not plan_apply(CONFIG, token_set=False, path=settings).changed


def test_a_file_changed_after_the_preview_is_not_overwritten(settings: Path) -> None:
    plan = plan_apply(CONFIG, token_set=False, path=settings)
    settings.write_text('{"edited": true}', encoding="utf-8")
    with pytest.raises(ClaudeSettingsError, match="changed since"):
        write(plan)
    assert read(settings) == {"edited": True}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"env": "oops"}'])
def test_a_broken_file_is_reported_and_left_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClaudeSettingsError, match="nothing was changed|Nothing was changed"):
        plan_apply(CONFIG, token_set=False, path=path)
    assert path.read_text(encoding="utf-8") == text
    assert list(tmp_path.iterdir()) == [path]


def test_restore_without_an_apply_says_there_is_nothing_to_restore(settings: Path) -> None:
    with pytest.raises(ClaudeSettingsError, match="nothing to restore"):
        plan_restore(settings)
    assert applied_url(settings) is None


# --- `lmgate claude apply|restore` ----------------------------------------------------------------


def test_the_cli_applies_and_restores_the_same_way(
    settings: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMGATE_TOKEN", raising=False)
    argv = ["claude", "apply", "--settings", str(settings), "--port", "8123"]

    assert cli.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '+        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8123",' in out
    assert "nothing was written" in out
    assert read(settings) == USER_SETTINGS

    assert cli.main(argv) == 0
    assert "Claude Code now uses LM Gate at http://127.0.0.1:8123" in capsys.readouterr().out
    assert read(settings) == {**USER_SETTINGS, "env": {**USER_SETTINGS["env"], **GATEWAY_ENV}}

    assert cli.main(["claude", "restore", "--settings", str(settings)]) == 0
    assert "back as they were" in capsys.readouterr().out
    assert read(settings) == USER_SETTINGS


def test_the_cli_with_a_token_writes_the_helper_not_the_token(
    settings: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMGATE_TOKEN", "tok-secret-1")
    assert cli.main(["claude", "apply", "--settings", str(settings)]) == 0
    text = settings.read_text(encoding="utf-8")
    assert "tok-secret-1" not in text + capsys.readouterr().out
    assert read(settings)["apiKeyHelper"] == token_helper_command()


def test_the_cli_reports_a_broken_settings_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{oops", encoding="utf-8")
    assert cli.main(["claude", "apply", "--settings", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lmgate: ") and "not valid JSON" in err
    assert cli.main(["claude", "restore", "--settings", str(tmp_path / "none.json")]) == 1
    assert "nothing to restore" in capsys.readouterr().err


# The user's own layout: four spaces, a one-line array, no space after a colon, CRLF line ends,
# literal non-ASCII, no newline at the end. json.dumps would give none of it back.
ODD = (
    '{\r\n    "model":"opus",\r\n    "permissions": {"allow": ["Bash(ls:*)", "Read"]},\r\n'
    '    "env": {\r\n        "GREETING": "grüß dich"\r\n    }\r\n}'
).encode()


def test_restore_gives_the_file_back_byte_for_byte_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(ODD)
    apply(path)
    assert path.read_bytes() != ODD
    plan = plan_restore(path)
    assert plan.after.encode() == ODD
    write(plan)
    assert path.read_bytes() == ODD
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


def test_a_second_apply_still_restores_the_first_original(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(ODD)
    apply(path)
    apply(path, GatewayConfig(port=9001), token_set=True, helper="lmgate token")
    write(plan_restore(path))
    assert path.read_bytes() == ODD
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


def test_restore_removes_a_file_lm_gate_created(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    apply(path)
    plan = plan_restore(path)
    assert plan.remove
    write(plan)
    assert list(path.parent.iterdir()) == []


def test_a_file_changed_after_apply_is_merged_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(ODD)
    apply(path)
    data = read(path)
    data["theme"] = "dark"  # Claude Code's own write after the apply
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    write(plan_restore(path))
    restored = read(path)
    assert restored["theme"] == "dark"
    assert restored["env"] == {"GREETING": "grüß dich"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]
