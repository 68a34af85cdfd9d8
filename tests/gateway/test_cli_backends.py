"""`lmgate backends`, `doctor`, `keys` and the catalogue-fed `env`, run as a user runs them:
through gateway.cli.main, against fake servers at the places the config names."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from gateway import cli, keystore
from gateway.config import load_config
from tests.fakes.server import FakeBackend, closed_port, free_port
from tests.keyrings import MemoryKeyring
from tests.paths import REPO

Start = Callable[..., FakeBackend]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LMGATE_TOKEN", raising=False)
    monkeypatch.setattr(keystore, "_default", None)
    # Only the places a test's config names are probed, never what this machine runs.
    monkeypatch.setattr("gateway.backends.registry.default_targets", lambda environ: [])
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"port = {free_port()}\n" + textwrap.dedent(body), encoding="utf-8")
    return path


def places(**targets: FakeBackend) -> str:
    lines = [f'{kind} = ["{fake.root_url}"]' for kind, fake in targets.items()]
    return "[discovery_targets]\n" + "\n".join(lines) + "\n"


# --- backends -----------------------------------------------------------------------------------


def test_backends_prints_the_catalogue(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fake_backend(
        "lmstudio",
        models=["qwen3-coder-30b", "qwen2.5-vl-7b"],
        context_length=32768,
        rest="v1",
        types={"qwen2.5-vl-7b": "vlm"},
    )
    ollama = fake_backend(
        "ollama",
        models=["qwen3:8b"],
        version="0.32.2",
        capabilities={"qwen3:8b": ["completion", "tools", "thinking"]},
    )
    gone = f"http://127.0.0.1:{closed_port()}/v1"
    config = write_config(
        tmp_path,
        f'[[backends]]\nid = "box"\nurl = "{gone}"\n' + places(lmstudio=lms, ollama=ollama),
    )
    status, out, err = run(capsys, "backends", "--config", str(config))
    assert (status, err) == (0, "")
    rows = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()]
    assert rows[0] == ["BACKEND", "KIND", "STATUS", "VERSION", "PROTOCOL", "URL"]
    assert ["box", "openai", "down", "-", "openai", gone] in rows
    assert [
        "lmstudio",
        "lmstudio",
        "up",
        "-",
        "anthropic",
        f"{lms.root_url}/v1 (discovered)",
    ] in rows
    assert [
        "ollama",
        "ollama",
        "up",
        "0.32.2",
        "anthropic",
        f"{ollama.root_url}/v1 (discovered)",
    ] in rows
    assert ["MODEL", "LOADED", "CONTEXT / MAX", "TOOLS", "VISION", "THINKING"] in rows
    assert ["qwen3-coder-30b", "yes", "32768 / 131072", "yes", "no", "-"] in rows
    assert ["qwen2.5-vl-7b", "no", "- / 131072", "yes", "yes", "-"] in rows
    assert ["qwen3:8b", "yes", "4096 / 131072", "yes", "no", "yes"] in rows
    assert any(gone in line and "cannot reach" in line for line in out.splitlines())


def test_backends_with_nothing_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(
        tmp_path, f'[discovery_targets]\nollama = ["http://127.0.0.1:{closed_port()}"]\n'
    )
    assert run(capsys, "backends", "--config", str(config)) == (0, "No backend found.\n", "")


# --- doctor -------------------------------------------------------------------------------------


def doctor(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> tuple[int, list[str]]:
    status, out, _ = run(capsys, "doctor", "--config", str(config), *extra)
    return status, out.splitlines()


def test_doctor_small_window_is_an_error_with_the_fix(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama = fake_backend("ollama", models=["qwen3:8b"], context_length=4096)
    status, lines = doctor(capsys, write_config(tmp_path, places(ollama=ollama)))
    assert status == 1
    error = lines.index(
        "error: the big model qwen3:8b on ollama has a 4096-token context window: Claude "
        "Code's system prompt and tools alone take about 17k tokens"
    )
    assert "OLLAMA_CONTEXT_LENGTH=65536" in lines[error + 1]
    assert lines[-1] == "1 error, 0 warnings"


def test_doctor_window_under_64k_is_a_warning(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fake_backend("lmstudio", models=["qwen3-coder-30b"], context_length=40000)
    status, lines = doctor(capsys, write_config(tmp_path, places(lmstudio=lms)))
    assert status == 0
    assert any(
        line.startswith("warning: the big model qwen3-coder-30b on lmstudio has a 40000-token")
        for line in lines
    )
    assert any("lms load qwen3-coder-30b --context-length 65536" in line for line in lines)


def test_doctor_swap_warning_and_fix_swap(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fake_backend("lmstudio", models=["big-30b", "small-4b"], context_length=65536)
    config = write_config(tmp_path, 'big = "big-30b"\nsmall = "small-4b"\n' + places(lmstudio=lms))
    status, lines = doctor(capsys, config)
    assert status == 0  # a warning, not an error
    assert (
        "warning: big (big-30b) and small (small-4b) are different models on lmstudio, and "
        "only big-30b is loaded: every switch between them reloads a model, which takes "
        "seconds to minutes" in lines
    )
    assert any("`lmgate doctor --fix-swap`" in line for line in lines)

    status, lines = doctor(capsys, config, "--fix-swap")
    assert f'--fix-swap: wrote small = "big-30b" to {config}' in lines
    fixed = load_config(config).config
    assert (fixed.big, fixed.small) == ("big-30b", "big-30b")
    status, lines = doctor(capsys, config)
    assert not any("different models" in line for line in lines)
    assert lines[-1] == "All good: Claude Code can use this setup."


def test_doctor_both_loaded_is_fine(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama = fake_backend(
        "ollama", models=["a:1", "b:1"], loaded=["a:1", "b:1"], context_length=65536
    )
    config = write_config(tmp_path, 'big = "a:1"\nsmall = "b:1"\n' + places(ollama=ollama))
    status, lines = doctor(capsys, config)
    assert status == 0
    assert "ok: the big and small models are both loaded on ollama" in lines


def test_doctor_backend_down_and_nothing_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    config = write_config(tmp_path, f'discover = false\n[[backends]]\nid = "lms"\nurl = "{dead}"\n')
    status, lines = doctor(capsys, config)
    assert status == 1
    assert lines[0].startswith(f"error: backend lms ({dead}) is down: cannot reach the backend")

    empty = tmp_path / "empty.toml"
    empty.write_text(f"port = {free_port()}\ndiscover = false\n")
    status, lines = doctor(capsys, empty)
    assert status == 1
    assert lines[0].startswith("error: no backend was found")
    assert "lms server start" in lines[1]


def test_doctor_model_not_served(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fake_backend("lmstudio", models=["qwen3-coder-30b"], context_length=65536)
    config = write_config(tmp_path, places(lmstudio=lms))
    status, lines = doctor(capsys, config, "--big", "lmstudio:gpt-oss-120b")
    assert status == 1
    assert "error: the big model 'gpt-oss-120b' is not served by backend lmstudio" in lines


def test_doctor_remote_backend_without_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_GROQ_KEY", raising=False)
    config = write_config(
        tmp_path,
        'discover = false\n[[backends]]\nid = "groq"\nkind = "groq"\nurl = "http://127.0.0.1:9/openai/v1"\n'
        '[[backends]]\nid = "router"\nkind = "openrouter"\nurl = "http://127.0.0.1:9/api/v1"\n'
        'api_key_env = "MY_GROQ_KEY"\n',
    )
    status, lines = doctor(capsys, config)
    assert status == 1
    assert "error: backend groq has no API key" in lines
    assert any("lmgate keys set groq" in line for line in lines)
    assert "error: backend router: MY_GROQ_KEY is not set, so it gets no API key" in lines


def test_doctor_port(
    fake_backend: Start,
    gateway_server: Callable[..., object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lms = fake_backend("lmstudio", context_length=65536)
    config = write_config(tmp_path, places(lmstudio=lms))
    status, lines = doctor(capsys, config, "--port", str(lms.port))
    assert f"error: 127.0.0.1:{lms.port} is taken by another program" in lines and status == 1
    server = gateway_server(lms.url)
    port = server.port  # type: ignore[attr-defined]
    status, lines = doctor(capsys, config, "--port", str(port))
    assert f"ok: an LM Gate is already serving on 127.0.0.1:{port}" in lines


def test_doctor_keyring(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fake_backend("lmstudio", context_length=65536)
    config = write_config(tmp_path, places(lmstudio=lms))
    keyring.set_keyring(MemoryKeyring())
    assert "ok: the OS keyring is usable" in doctor(capsys, config)[1]
    keyring.set_keyring(keyring.backends.fail.Keyring())
    keystore._default = None
    status, lines = doctor(capsys, config)
    # No backend needs a key here: a warning only.
    assert any(line.startswith("warning: the OS keyring cannot be used") for line in lines)
    assert status == 0


# --- env ----------------------------------------------------------------------------------------


def test_env_carries_the_big_models_loaded_window(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fake_backend("lmstudio", models=["coder", "other"], context_length=49152)
    config = write_config(tmp_path, 'big = "coder"\n' + places(lmstudio=lms))
    status, out, _ = run(capsys, "env", "--shell", "bash", "--config", str(config))
    assert status == 0
    # Under Claude Code's 100k floor the window is the model's own (see test_envline).
    lines = out.splitlines()
    assert "export CLAUDE_CODE_MAX_CONTEXT_TOKENS='49152'" in lines
    assert "export ANTHROPIC_MODEL='lmgate-sonnet'" in lines
    assert "AUTO_COMPACT" not in out
    # A big model that is not loaded has no window yet: the lines are left out.
    other = write_config(tmp_path, 'big = "other"\n' + places(lmstudio=lms))
    text = run(capsys, "env", "--shell", "bash", "--config", str(other))[1]
    assert "AUTO_COMPACT" not in text and "MAX_CONTEXT_TOKENS" not in text


def test_env_works_when_nothing_is_reachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path, f'[discovery_targets]\nlmstudio = ["http://127.0.0.1:{closed_port()}"]\n'
    )
    status, out, err = run(capsys, "env", "--shell", "bash", "--config", str(config))
    assert (status, err) == (0, "")
    assert "ANTHROPIC_BASE_URL" in out and "AUTO_COMPACT" not in out


# --- keys ---------------------------------------------------------------------------------------


def test_keys_set_list_delete(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("sk-secret-value\n"))
    status, out, err = run(capsys, "keys", "set", "openai")
    assert status == 0 and "stored in the OS keyring" in out
    assert "no backend 'openai' is in the config" in err
    assert memory.store[("lmgate", "openai")] == "sk-secret-value"
    assert "sk-secret" not in out + err
    assert run(capsys, "keys", "list") == (0, "openai\n", "")
    assert run(capsys, "keys", "list", "openai") == (0, "openai: a key is stored\n", "")
    assert run(capsys, "keys", "list", "groq") == (1, "groq: no key is stored\n", "")
    assert run(capsys, "keys", "delete", "openai")[0] == 0
    assert ("lmgate", "openai") not in memory.store
    assert run(capsys, "keys", "list") == (0, "", "No API keys are stored.\n")


def test_keys_list_leaves_the_gateway_token_out(
    memory: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    keystore.generate_token()
    assert run(capsys, "keys", "list")[1] == ""


def test_keys_usage_errors(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "keys", "set")
    assert status == 2 and "needs a backend id" in err
    assert run(capsys, "keys", "set", "gateway-token")[0] == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    status, _, err = run(capsys, "keys", "set", "openai")
    assert status == 2 and "nothing was stored" in err and memory.store == {}
    with pytest.raises(SystemExit):  # the key is never an argument
        cli.main(["keys", "set", "openai", "sk-on-the-command-line"])


def test_keys_without_a_keyring_names_the_alternative(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.setattr(sys, "stdin", io.StringIO("sk-x\n"))
    status, out, err = run(capsys, "keys", "set", "openai")
    assert status == 1 and out == ""
    assert "no secure keyring" in err and "api_key_env" in err


# --- no Qt --------------------------------------------------------------------------------------


def test_these_commands_never_load_pyside6(fake_backend: Start, tmp_path: Path) -> None:
    lms = fake_backend("lmstudio", context_length=65536)
    config = write_config(tmp_path, "discover = true\n" + places(lmstudio=lms))
    script = textwrap.dedent(
        f"""
        import sys
        from gateway import cli
        for argv in (["backends"], ["doctor"], ["keys", "list"], ["env"]):
            cli.main([*argv, "--config", {str(config)!r}])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "PySide6")
        assert not loaded, loaded
        print("no Qt")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("no Qt")


def test_doctor_says_when_the_settings_come_from_the_backup(
    fake_backend: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lms = fake_backend("lmstudio", models=["qwen3-coder-30b"])
    config = write_config(tmp_path, places(lmstudio=lms))
    backup = config.with_name("config.toml.bak")
    config.rename(backup)
    status, lines = doctor(capsys, config)
    assert lines[0].startswith(f"warning: the config file {config} is missing; LM Gate is using")
    assert "not defaults" in lines[0]
    assert lines[1] == f"    fix: if these settings are right, copy {backup} to {config} (or " + (
        "change any setting in the app, which saves them)"
    )
    assert "lmstudio" in "\n".join(lines)  # the backup's discovery targets are the ones used
