from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from gateway import cli
from gateway.claude_desktop import (
    ENTRY_NAME,
    META_NAME,
    ClaudeDesktopError,
    applied_url,
    desired_config,
    inference_models,
    library_path,
    plan_apply,
    plan_restore,
    write,
)
from gateway.config import GatewayConfig
from gateway.envline import NO_TOKEN
from gateway.routing import ModelIndex, resolve

CONFIG = GatewayConfig(port=8123, big="qwen3-coder-30b", small="qwen3-4b")
ENTRY = "11111111-2222-4333-8444-555555555555"
# As a user's Desktop left it: CRLF, four-space indent, no final newline, a key LM Gate does
# not know.
USER_META = (
    b'{\r\n    "appliedId": "aaaa",\r\n    "entries": [{"id": "aaaa", "name": "Work"}],'
    b'\r\n    "futureKey": [1, 2]\r\n}'
)
USER_ENTRY = b'{"inferenceProvider": "bedrock"}\n'


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under `root` with its bytes (None for a folder)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "Claude-3p" / "configLibrary"
    folder.mkdir(parents=True)
    (folder / META_NAME).write_bytes(USER_META)
    (folder / "aaaa.json").write_bytes(USER_ENTRY)
    return folder


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, "home/.config/Claude-3p/configLibrary"),
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, "/xdg/Claude-3p/configLibrary"),
        ("linux", {"XDG_CONFIG_HOME": "relative"}, "home/.config/Claude-3p/configLibrary"),
        ("darwin", {}, "home/Library/Application Support/Claude-3p/configLibrary"),
        ("win32", {"LOCALAPPDATA": "/local"}, "/local/Claude-3p/configLibrary"),
        ("win32", {}, "home/AppData/Local/Claude-3p/configLibrary"),
    ],
)
def test_the_library_is_where_each_os_keeps_it(
    platform: str, environ: dict[str, str], expected: str
) -> None:
    path = library_path(environ, home=Path("home"), platform=platform)
    assert path == Path(expected)


def test_the_entry_points_at_the_gateway_with_claude_named_tiers() -> None:
    entry = desired_config(CONFIG, token=None)
    assert entry["inferenceProvider"] == "gateway"
    assert entry["inferenceGatewayBaseUrl"] == "http://127.0.0.1:8123"
    assert entry["inferenceGatewayApiKey"] == NO_TOKEN
    assert entry["inferenceGatewayAuthScheme"] == "bearer"
    assert entry["modelDiscoveryEnabled"] is False
    models = entry["inferenceModels"]
    assert [(m["name"], m["anthropicFamilyTier"]) for m in models] == [
        ("claude-sonnet-lmgate", "sonnet"),
        ("claude-haiku-lmgate", "haiku"),
    ]
    assert [m["labelOverride"] for m in models] == [
        "qwen3-coder-30b (LM Gate)",
        "qwen3-4b (LM Gate)",
    ]
    assert all(m["isFamilyDefault"] for m in models)


def test_an_opus_model_set_apart_gets_its_own_entry() -> None:
    config = CONFIG.model_copy(update={"opus": "big-reasoner"})
    names = [(m["name"], m["labelOverride"]) for m in inference_models(config)]
    assert names[1] == ("claude-opus-lmgate", "big-reasoner (LM Gate)")


def test_each_model_name_reaches_the_model_it_is_labelled_with() -> None:
    config = CONFIG.model_copy(update={"opus": "big-reasoner"})
    index = ModelIndex({"lms": ["qwen3-coder-30b", "qwen3-4b", "big-reasoner"]})
    for model in inference_models(config):
        route = resolve(model["name"], config, index)
        assert f"{route.model} (LM Gate)" == model["labelOverride"]


def test_apply_adds_the_entry_and_applies_it(library: Path) -> None:
    write(plan_apply(CONFIG, token=None, library=library, entry_id=ENTRY))
    meta = read(library / META_NAME)
    assert meta["appliedId"] == ENTRY
    assert meta["entries"] == [
        {"id": "aaaa", "name": "Work"},
        {"id": ENTRY, "name": ENTRY_NAME},
    ]
    assert meta["futureKey"] == [1, 2]
    assert read(library / f"{ENTRY}.json") == desired_config(CONFIG, token=None)
    assert (library / "aaaa.json").read_bytes() == USER_ENTRY
    assert applied_url(library) == "http://127.0.0.1:8123"


def test_restore_gives_back_every_byte_and_leaves_no_backup(library: Path) -> None:
    root = library.parent.parent
    before = snapshot(root)
    write(plan_apply(CONFIG, token="tok-1", library=library, entry_id=ENTRY))
    assert snapshot(root) != before
    write(plan_restore(library))
    assert snapshot(root) == before
    assert applied_url(library) is None


def test_restore_removes_the_folders_apply_created(tmp_path: Path) -> None:
    library = tmp_path / "config" / "Claude-3p" / "configLibrary"
    (tmp_path / "config").mkdir()
    write(plan_apply(CONFIG, token=None, library=library, entry_id=ENTRY))
    assert read(library / META_NAME) == {
        "appliedId": ENTRY,
        "entries": [{"id": ENTRY, "name": ENTRY_NAME}],
    }
    assert stat.S_IMODE((library / f"{ENTRY}.json").stat().st_mode) == 0o600
    write(plan_restore(library))
    assert snapshot(tmp_path) == {"config": None}


def test_reapplying_keeps_the_original_for_restore(library: Path) -> None:
    before = snapshot(library.parent)
    write(plan_apply(CONFIG, token=None, library=library, entry_id=ENTRY))
    moved = CONFIG.model_copy(update={"port": 9000})
    write(plan_apply(moved, token=None, library=library))
    assert read(library / META_NAME)["entries"][-1] == {"id": ENTRY, "name": ENTRY_NAME}
    assert len(read(library / META_NAME)["entries"]) == 2
    assert read(library / f"{ENTRY}.json")["inferenceGatewayBaseUrl"] == "http://127.0.0.1:9000"
    assert applied_url(library) == "http://127.0.0.1:9000"
    write(plan_restore(library))
    assert snapshot(library.parent) == before


def test_restore_after_desktop_rewrote_the_index_keeps_its_changes(library: Path) -> None:
    write(plan_apply(CONFIG, token=None, library=library, entry_id=ENTRY))
    meta = read(library / META_NAME)
    meta["entries"].append({"id": "bbbb", "name": "Added in Desktop"})
    (library / META_NAME).write_text(json.dumps(meta), encoding="utf-8")
    write(plan_restore(library))
    assert read(library / META_NAME) == {
        "appliedId": "aaaa",
        "entries": [{"id": "aaaa", "name": "Work"}, {"id": "bbbb", "name": "Added in Desktop"}],
        "futureKey": [1, 2],
    }
    assert not (library / f"{ENTRY}.json").exists()


def test_the_file_mode_of_the_index_is_kept(library: Path) -> None:
    os.chmod(library / META_NAME, 0o640)
    write(plan_apply(CONFIG, token=None, library=library, entry_id=ENTRY))
    assert stat.S_IMODE((library / META_NAME).stat().st_mode) == 0o640


def test_the_plan_writes_nothing_and_hides_the_token(library: Path) -> None:
    before = snapshot(library.parent)
    plan = plan_apply(CONFIG, token="tok-secret-2", library=library, entry_id=ENTRY)
    assert snapshot(library.parent) == before
    diff = plan.diff()
    assert '+  "inferenceGatewayBaseUrl": "http://127.0.0.1:8123",' in diff
    assert "tok-secret-2" not in diff and "<the gateway token>" in diff
    write(plan)
    assert read(library / f"{ENTRY}.json")["inferenceGatewayApiKey"] == "tok-secret-2"
    assert "tok-secret-2" not in plan_restore(library).diff()


def test_a_file_changed_after_the_preview_is_not_overwritten(library: Path) -> None:
    plan = plan_apply(CONFIG, token=None, library=library, entry_id=ENTRY)
    (library / META_NAME).write_text('{"entries": []}', encoding="utf-8")
    with pytest.raises(ClaudeDesktopError, match="changed since"):
        write(plan)
    assert (library / META_NAME).read_text(encoding="utf-8") == '{"entries": []}'
    assert not (library / f"{ENTRY}.json").exists()


@pytest.mark.parametrize("text", [b"{oops", b"[1, 2]", b'{"entries": 3}', b"\xff\xfe{}"])
def test_a_broken_index_is_reported_and_left_alone(library: Path, text: bytes) -> None:
    (library / META_NAME).write_bytes(text)
    with pytest.raises(ClaudeDesktopError, match="nothing was changed|Nothing was changed"):
        plan_apply(CONFIG, token=None, library=library)
    assert (library / META_NAME).read_bytes() == text


def test_restore_without_an_apply_says_there_is_nothing_to_restore(library: Path) -> None:
    with pytest.raises(ClaudeDesktopError, match="nothing to restore"):
        plan_restore(library)


# --- `lmgate claude-desktop apply|restore|show` -----------------------------------------------


def test_the_cli_applies_shows_and_restores(
    library: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMGATE_TOKEN", raising=False)
    monkeypatch.setattr(cli, "_stored_token", lambda: None)
    before = snapshot(library.parent)
    argv = ["claude-desktop", "apply", "--library", str(library), "--port", "8123"]

    assert cli.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '+  "inferenceGatewayBaseUrl": "http://127.0.0.1:8123",' in out
    assert "nothing was written" in out
    assert snapshot(library.parent) == before

    assert cli.main(["claude-desktop", "show", "--library", str(library)]) == 0
    out = capsys.readouterr().out
    assert f"config library: {library}" in out and "applied: no" in out

    assert cli.main(argv) == 0
    assert "Claude Desktop now uses LM Gate at http://127.0.0.1:8123" in capsys.readouterr().out
    assert cli.main(["claude-desktop", "show", "--library", str(library), "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert "applied: LM Gate at http://127.0.0.1:8123" in out
    assert '"name": "claude-sonnet-lmgate"' in out

    assert cli.main(["claude-desktop", "restore", "--library", str(library)]) == 0
    assert "back as it was" in capsys.readouterr().out
    assert snapshot(library.parent) == before


def test_the_cli_writes_the_token_into_the_entry_only(
    library: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMGATE_TOKEN", "tok-secret-3")
    assert cli.main(["claude-desktop", "apply", "--library", str(library)]) == 0
    assert cli.main(["claude-desktop", "show", "--library", str(library)]) == 0
    assert "tok-secret-3" not in capsys.readouterr().out
    entry = applied_entry(library)
    assert entry["inferenceGatewayApiKey"] == "tok-secret-3"


def applied_entry(library: Path) -> dict[str, Any]:
    return read(library / f"{read(library / META_NAME)['appliedId']}.json")


def test_the_cli_reports_a_broken_index(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (library / META_NAME).write_text("{oops", encoding="utf-8")
    assert cli.main(["claude-desktop", "apply", "--library", str(library)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lmgate: ") and "not valid JSON" in err
    empty = library.parent / "other"
    assert cli.main(["claude-desktop", "restore", "--library", str(empty)]) == 1
    assert "nothing to restore" in capsys.readouterr().err
