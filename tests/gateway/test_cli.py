from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest

from gateway import cli, keystore
from gateway.config import BackendConfig, GatewayConfig, default_config_path
from gateway.envline import NO_TOKEN, SHELLS, claude_env, render
from tests.keyrings import MemoryKeyring


class Served:
    """What the stubbed `gateway.runner.serve_forever` was called with."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, config: GatewayConfig, **kwargs: Any) -> int:
        self.calls.append({"config": config, **kwargs})
        return 0

    @property
    def config(self) -> GatewayConfig:
        assert len(self.calls) == 1
        config: GatewayConfig = self.calls[0]["config"]
        return config

    @property
    def token(self) -> str | None:
        assert len(self.calls) == 1
        return resolved(self.calls[0]["token"])


def resolved(token: Any) -> str | None:
    """A token as the gateway will check it: a keyring token is read on a thread (LazyToken)."""
    if callable(token):
        assert token.wait(5), "the keyring was never read"
        value: str | None = token()
        return value
    return token  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LMGATE_TOKEN", raising=False)
    # `env` reads the catalogue: no probing of whatever this machine runs on the default ports.
    monkeypatch.setattr("gateway.backends.registry.default_targets", lambda environ: [])
    monkeypatch.setattr(keystore, "_default", None)
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def no_keyring() -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    stub = Served()
    fake = types.ModuleType("gateway.runner")
    fake.serve_forever = stub  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gateway.runner", fake)
    return stub


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        'port = 9000\nbig = "file-big"\nsmall = "file-small"\ncommit_after = 2.5\n'
        '[[backends]]\nid = "lms"\nurl = "http://10.0.0.5:1234/v1"\nprotocol = "openai"\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# --- serve: precedence --------------------------------------------------------------------------


def test_serve_without_config_uses_defaults(
    served: Served, memory: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not default_config_path().exists()  # the suite points XDG_CONFIG_HOME at a temp dir
    assert run(capsys, "serve") == (0, "", "")
    assert served.config == GatewayConfig.model_validate({})
    assert served.token is None


def test_serve_reads_the_default_config_file(
    served: Served, memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default_config_path().parent.mkdir(parents=True)
    default_config_path().write_bytes(config_file.read_bytes())
    assert run(capsys, "serve")[0] == 0
    assert served.config.port == 9000
    assert served.config.big == "file-big"


def test_serve_config_file_overrides_defaults(
    served: Served, memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve", "--config", str(config_file))[0] == 0
    config = served.config
    assert (config.host, config.port, config.big, config.small) == (
        "127.0.0.1",
        9000,
        "file-big",
        "file-small",
    )
    assert config.commit_after == 2.5
    assert config.backends == [
        BackendConfig(id="lms", url="http://10.0.0.5:1234/v1", protocol="openai")
    ]


def test_serve_flags_override_the_config_file(
    served: Served, memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--config", str(config_file), "--port", "9100", "--big", "flag-big"]
    assert run(capsys, *argv)[0] == 0
    config = served.config
    assert (config.port, config.big, config.small) == (9100, "flag-big", "file-small")
    assert config.backends[0].id == "lms"


def test_serve_backend_flag_replaces_the_backends(
    served: Served, memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--config", str(config_file), "--backend", "http://127.0.0.1:11434"]
    assert run(capsys, *argv)[0] == 0
    assert served.config.backends == [
        BackendConfig(id="default", url="http://127.0.0.1:11434", protocol="auto")
    ]
    assert served.config.discover is False  # that one server only


def test_serve_protocol_flag(
    served: Served, memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--backend", "https://api.example.com/v1", "--protocol", "anthropic"]
    assert run(capsys, *argv)[0] == 0
    assert served.config.backends[0].protocol == "anthropic"
    served.calls.clear()
    assert run(capsys, "serve", "--config", str(config_file), "--protocol", "auto")[0] == 0
    assert [(b.id, b.protocol) for b in served.config.backends] == [("lms", "auto")]


def test_serve_review_flags(
    served: Served, memory: MemoryKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve")[0] == 0
    assert (served.config.review.mode, served.config.review.model) == ("classifier", "small")
    path = tmp_path / "review.toml"
    path.write_text('[review]\nmode = "off"\nmodel = "big"\ntimeout = 12.5\n', encoding="utf-8")
    served.calls.clear()
    assert run(capsys, "serve", "--config", str(path), "--review", "rules")[0] == 0
    review = served.config.review
    assert (review.mode, review.model, review.timeout) == ("rules", "big", 12.5)
    served.calls.clear()
    argv = ["serve", "--config", str(path), "--review-model", "remote:gpt-5-mini"]
    assert run(capsys, *argv)[0] == 0
    assert (served.config.review.mode, served.config.review.model) == ("off", "remote:gpt-5-mini")
    with pytest.raises(SystemExit):
        run(capsys, "serve", "--review", "sometimes")


@pytest.mark.parametrize("argv", [[], ["--port", "9300"]])
def test_no_command_means_serve(
    served: Served, memory: MemoryKeyring, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert run(capsys, *argv)[0] == 0
    assert served.config.port == (9300 if argv else 8082)


# --- serve: token -------------------------------------------------------------------------------


def test_serve_token_precedence(
    served: Served,
    memory: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    memory.store[("lmgate", "gateway-token")] = "from-keyring"
    run(capsys, "serve")
    monkeypatch.setenv("LMGATE_TOKEN", "from-env")
    run(capsys, "serve")
    run(capsys, "serve", "--token", "from-flag")
    tokens = [resolved(call["token"]) for call in served.calls]
    assert tokens == ["from-keyring", "from-env", "from-flag"]
    # The keyring one is read off the start-up path: serve is called before it has answered.
    assert callable(served.calls[0]["token"])


def test_serve_with_an_unusable_keyring_has_no_token(
    served: Served, no_keyring: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve") == (0, "", "")
    assert served.token is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "gateway.lan"])
def test_serve_refuses_a_public_host_without_a_token(
    served: Served, memory: MemoryKeyring, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    status, out, err = run(capsys, "serve", "--host", host)
    assert status == 2
    assert served.calls == []
    assert f"refusing to listen on {host} without a token" in err
    assert "lmgate token --new" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_refuses_a_public_host_from_the_config_file(
    served: Served, memory: MemoryKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('host = "0.0.0.0"\n')
    assert run(capsys, "serve", "--config", str(path))[0] == 2
    assert served.calls == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"])
def test_serve_loopback_needs_no_token(
    served: Served, memory: MemoryKeyring, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    assert run(capsys, "serve", "--host", host)[0] == 0


def test_serve_public_host_with_a_token(
    served: Served, memory: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    memory.store[("lmgate", "gateway-token")] = "kept"
    assert run(capsys, "serve", "--host", "0.0.0.0")[0] == 0
    assert (served.config.host, served.token) == ("0.0.0.0", "kept")


def test_serve_api_keys_from_env_and_keyring(
    served: Served,
    memory: MemoryKeyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[backends]]\nid = "router"\nurl = "https://openrouter.ai/api/v1"\n'
        'api_key_env = "OPENROUTER_KEY"\n'
        '[[backends]]\nid = "groq"\nurl = "https://api.groq.com/openai/v1"\n'
        '[[backends]]\nid = "local"\nurl = "http://127.0.0.1:1234/v1"\n'
        '[[backends]]\nid = "unset"\nurl = "https://x.example/v1"\napi_key_env = "NOPE_KEY"\n'
    )
    monkeypatch.setenv("OPENROUTER_KEY", "sk-or")
    monkeypatch.delenv("NOPE_KEY", raising=False)
    memory.store[("lmgate", "groq")] = "gsk"
    status, _, err = run(capsys, "serve", "--config", str(path))
    assert status == 0
    assert served.calls[0]["api_keys"] == {"router": "sk-or", "groq": "gsk"}
    assert "NOPE_KEY is not set" in err


# --- serve: bad values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("port = 99999\n", "port: Input should be less than or equal to 65535"),
        ("port = 'eighty'\n", "port: Input should be a valid integer"),
        ("[[backends]]\nprotocol = 'grpc'\n", "backends.0.protocol: Input should be"),
        ("port = \n", "is not valid TOML"),
        ("\xff\xfe", "is not valid TOML"),
    ],
)
def test_bad_config_file_is_one_line_and_exit_2(
    served: Served,
    memory: MemoryKeyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    expected: str,
) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(content.encode("latin-1"))
    status, out, err = run(capsys, "serve", "--config", str(path))
    assert status == 2
    assert served.calls == []
    assert expected in err
    assert str(path) in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert path.exists()  # a headless start never moves the user's file aside


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--port", "70000"], "--port: Input should be less than or equal to 65535"),
        (["--backend", "localhost:1234"], "is not an http(s) URL"),
        (["--backend", "http://"], "is not an http(s) URL"),
        (["--backend", "http://host:notaport/v1"], "is not an http(s) URL"),
        (["--config", "/nonexistent/lmgate.toml"], "does not exist"),
    ],
)
def test_bad_flag_values_are_one_line_and_exit_2(
    served: Served,
    memory: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    status, _, err = run(capsys, "serve", *argv)
    assert status == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert served.calls == []


def test_a_config_path_that_is_a_directory(
    served: Served, memory: MemoryKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "serve", "--config", str(tmp_path))
    assert status == 2
    assert "cannot be read" in err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--port", "abc"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--bogus"])
    assert info.value.code == 2


def test_serve_help_warns_that_argv_is_visible(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--host", "--port", "--backend", "--big", "--small", "--token", "--protocol"):
        assert flag in text
    assert "`ps`" in text


# --- env ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_env_for_each_shell(
    memory: MemoryKeyring, capsys: pytest.CaptureFixture[str], shell: str
) -> None:
    status, out, err = run(capsys, "env", "--shell", shell, "--port", "9200", "--token", "tkn")
    assert status == 0
    config = GatewayConfig.model_validate({"port": 9200})
    assert out == render(claude_env(config, token="tkn"), shell) + "\n"
    assert err == ""


def test_env_defaults(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    status, out, _ = run(capsys, "env")
    assert status == 0
    assert out.splitlines()[:2] == [
        "set -gx ANTHROPIC_BASE_URL 'http://127.0.0.1:8082'",
        f"set -gx ANTHROPIC_AUTH_TOKEN '{NO_TOKEN}'",
    ]


def test_env_token_and_address_sources(
    memory: MemoryKeyring,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def exported(*argv: str) -> dict[str, str]:
        status, out, _ = run(capsys, "env", "--shell", "bash", *argv)
        assert status == 0
        return dict(re.findall(r"^export (\w+)='(.*)'$", out, re.MULTILINE))

    memory.store[("lmgate", "gateway-token")] = "kept"
    env = exported("--config", str(config_file))
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9000"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "kept"
    monkeypatch.setenv("LMGATE_TOKEN", "env-token")
    env = exported("--config", str(config_file), "--host", "0.0.0.0", "--port", "9001")
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9001"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "env-token"


def test_env_without_a_keyring_uses_the_placeholder(
    no_keyring: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "env", "--shell", "powershell")
    assert status == 0
    assert f"$env:ANTHROPIC_AUTH_TOKEN = '{NO_TOKEN}'" in out.splitlines()
    assert err == ""


def test_env_value_cmd_cannot_carry(
    memory: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "env", "--shell", "cmd", "--token", "50%off")
    assert status == 2
    assert out == ""
    assert "PowerShell" in err


# --- token --------------------------------------------------------------------------------------


def test_token_none_set(memory: MemoryKeyring, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "token")
    assert (status, out) == (1, "")
    assert "lmgate token --new" in err
    assert "LMGATE_TOKEN" in err


def test_token_from_env_and_keyring(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    memory.store[("lmgate", "gateway-token")] = "kept"
    assert run(capsys, "token") == (0, "kept\n", "")
    monkeypatch.setenv("LMGATE_TOKEN", "env-token")
    assert run(capsys, "token") == (0, "env-token\n", "")


def test_token_new_generates_and_stores(
    memory: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "token", "--new")
    token = out.strip()
    assert (status, err) == (0, "")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert memory.store[("lmgate", "gateway-token")] == token
    assert run(capsys, "token") == (0, f"{token}\n", "")


def test_token_new_notes_an_overriding_env(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LMGATE_TOKEN", "env-token")
    status, out, err = run(capsys, "token", "--new")
    assert status == 0
    assert out.strip() == memory.store[("lmgate", "gateway-token")]
    assert "LMGATE_TOKEN is set" in err


def test_token_without_a_keyring(
    no_keyring: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    status, out, err = run(capsys, "token")
    assert (status, out) == (1, "")
    assert "lmgate token --new" in err and "no secure keyring" in err
    status, out, err = run(capsys, "token", "--new")
    assert (status, out) == (1, "")
    assert "cannot store a new token" in err and "gnome-keyring" in err
    monkeypatch.setenv("LMGATE_TOKEN", "env-token")
    assert run(capsys, "token") == (0, "env-token\n", "")


# --- the command list ---------------------------------------------------------------------------
# (`self-test` is tested in tests/packaging/test_selftest.py.)


def test_reserved_commands_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for name in cli.RESERVED:
        assert re.search(rf"^\s+{name}\s", text, re.MULTILINE), name


# --- a lost config file and its backup ----------------------------------------------------------


def lose_config(path: Path, config_file: Path) -> None:
    """`path` is gone; its backup holds the config of `config_file`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.name + ".bak").write_bytes(config_file.read_bytes())


def test_serve_on_a_lost_default_config_uses_its_backup_and_says_so(
    served: Served, memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lose_config(default_config_path(), config_file)
    assert run(capsys, "serve")[0] == 0
    assert served.config.port == 9000 and served.config.big == "file-big"
    (notice,) = served.calls[0]["notices"]
    assert "is missing" in notice and "config.toml.bak" in notice and "not defaults" in notice


def test_serve_on_a_corrupt_config_uses_its_backup_and_leaves_the_file(
    served: Served, memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file.with_name("lmgate.toml")
    lose_config(path, config_file)
    path.write_text("port = [torn")
    assert run(capsys, "serve", "--config", str(path))[0] == 0
    assert served.config.port == 9000
    (notice,) = served.calls[0]["notices"]
    assert "is not valid TOML" in notice and "lmgate.toml.bak" in notice
    assert path.read_text() == "port = [torn"  # a headless start never moves the user's file


def test_a_lost_config_with_a_broken_backup_stops_serve(
    served: Served, memory: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.with_name("config.toml.bak").write_text("port = [torn")
    status, _, err = run(capsys, "serve")
    assert status == 2 and served.calls == []
    assert "is missing" in err and "cannot be read either" in err
    assert "fix or delete them" in err and "defaults" not in err  # it does not start on them
    assert len(err.strip().splitlines()) == 1


def test_other_commands_warn_on_stderr_when_they_read_the_backup(
    memory: MemoryKeyring, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lose_config(default_config_path(), config_file)
    status, out, err = run(capsys, "env", "--shell", "bash")
    assert status == 0
    assert "127.0.0.1:9000" in out
    assert err.startswith("lmgate: warning: the config file ") and "config.toml.bak" in err
