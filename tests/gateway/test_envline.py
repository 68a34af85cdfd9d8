from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from gateway.config import GatewayConfig
from gateway.envline import (
    NO_TOKEN,
    SHELLS,
    SMALL_WINDOW_MODEL,
    claude_env,
    default_shell,
    render,
)
from gateway.routing import ModelIndex, resolve

TRICKY = [
    "plain",
    "two  spaces and a trailing space ",
    "it's",
    "''",
    'say "hi"',
    "$HOME ${PATH} $(echo pwned) `echo pwned`",
    "back\\slash\\ and \\'",
    "glob * ? [a] ~ {a,b}",
    "semi; pipe | amp & redirect > < # comment",
    "line one\nline two",
    "ünïcödé ‘curly’ quotes",
    "",
]


def test_claude_env_is_ordered_and_complete() -> None:
    env = claude_env(GatewayConfig(), token="s3cret")
    assert list(env.items()) == [
        ("ANTHROPIC_BASE_URL", "http://127.0.0.1:8082"),
        ("ANTHROPIC_AUTH_TOKEN", "s3cret"),
        ("ANTHROPIC_DEFAULT_HAIKU_MODEL", "claude-haiku-4-5"),
        ("CLAUDE_CODE_ATTRIBUTION_HEADER", "0"),
        ("API_TIMEOUT_MS", "3000000"),
        ("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", "1"),
    ]


@pytest.mark.parametrize("token", [None, ""])
def test_claude_env_without_a_token_uses_the_placeholder(token: str | None) -> None:
    assert claude_env(GatewayConfig(), token=token)["ANTHROPIC_AUTH_TOKEN"] == NO_TOKEN


def test_claude_env_follows_the_config_address() -> None:
    env = claude_env(GatewayConfig(host="0.0.0.0", port=9100), token=None)
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9100"
    env = claude_env(GatewayConfig(host="::1", port=9101), token=None)
    assert env["ANTHROPIC_BASE_URL"] == "http://[::1]:9101"


WINDOW_VARIABLES = (
    "CLAUDE_CODE_AUTO_COMPACT_WINDOW",
    "CLAUDE_CODE_MAX_CONTEXT_TOKENS",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
    "ANTHROPIC_MODEL",
)


def test_claude_env_auto_compact_window_is_opt_in() -> None:
    env = claude_env(GatewayConfig(), token=None)
    assert not set(WINDOW_VARIABLES) & set(env)
    env = claude_env(GatewayConfig(), token=None, auto_compact_window=131072)
    assert list(env)[-1] == "CLAUDE_CODE_AUTO_COMPACT_WINDOW"
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "131072"


@pytest.mark.parametrize("window", [100_000, 131_072, 262_144])
def test_a_window_of_100k_or_more_is_the_auto_compact_window(window: int) -> None:
    # Claude Code 2.1.197 and 2.1.332 both honour it from 100k up.
    env = claude_env(GatewayConfig(), token=None, auto_compact_window=window)
    assert {k: env[k] for k in WINDOW_VARIABLES if k in env} == {
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(window)
    }


@pytest.mark.parametrize(
    ("window", "output"), [(32768, "4096"), (65536, "8192"), (99_999, "12499"), (4096, "1024")]
)
def test_a_window_under_100k_is_the_models_own_window(window: int, output: str) -> None:
    # Both versions raise CLAUDE_CODE_AUTO_COMPACT_WINDOW to 100k (2.1.332 says so on stderr);
    # they take CLAUDE_CODE_MAX_CONTEXT_TOKENS as the window of a model they do not know, and
    # 2.1.197 only for a name that does not start with "claude-".
    env = claude_env(GatewayConfig(), token=None, auto_compact_window=window)
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in env
    assert env["ANTHROPIC_MODEL"] == SMALL_WINDOW_MODEL
    assert not SMALL_WINDOW_MODEL.startswith("claude-")
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(window)
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == output


def test_the_small_window_model_name_reaches_the_big_model() -> None:
    config = GatewayConfig(big="qwen3-coder-30b", small="qwen3-4b")
    index = ModelIndex({"lms": ["qwen3-coder-30b", "qwen3-4b"]})
    route = resolve(SMALL_WINDOW_MODEL, config, index)
    assert (route.model, route.role) == ("qwen3-coder-30b", "big")


@pytest.mark.parametrize(
    ("shell", "expected"),
    [
        ("bash", "export A='1 2'\nexport B='it'\\''s'"),
        ("zsh", "export A='1 2'\nexport B='it'\\''s'"),
        ("fish", "set -gx A '1 2'\nset -gx B 'it\\'s'"),
        ("powershell", "$env:A = '1 2'\n$env:B = 'it''s'"),
    ],
)
def test_render_each_shell(shell: str, expected: str) -> None:
    assert render({"A": "1 2", "B": "it's"}, shell) == expected


def test_render_cmd_quotes_the_assignment() -> None:
    assert render({"A": "1 2 & 3 ", "B": "x"}, "cmd") == 'set "A=1 2 & 3 "\nset "B=x"'


@pytest.mark.parametrize("value", ['say "hi"', "100%", "%PATH%", "bang!", "a\nb"])
def test_render_cmd_refuses_what_it_cannot_carry(value: str) -> None:
    with pytest.raises(ValueError, match="cmd"):
        render({"K": value}, "cmd")


def test_render_fish_escapes_backslashes() -> None:
    assert render({"K": "a\\b'c"}, "fish") == "set -gx K 'a\\\\b\\'c'"


def test_render_powershell_doubles_every_kind_of_single_quote() -> None:
    assert render({"K": "it's ‘x’"}, "powershell") == "$env:K = 'it''s ‘‘x’’'"


def test_render_rejects_unknown_shells_and_names() -> None:
    with pytest.raises(ValueError, match="unknown shell"):
        render({"K": "v"}, "tcsh")
    with pytest.raises(ValueError, match="not a valid"):
        render({"BAD NAME": "v"}, "bash")


def test_render_real_env_for_every_shell() -> None:
    env = claude_env(GatewayConfig(), token="tok-en_123")
    for shell in SHELLS:
        text = render(env, shell)
        assert len(text.splitlines()) == len(env)
        assert "tok-en_123" in text


# Shells that are installed here; fish and zsh are not installed for the tests.
RUNNABLE = [shell for shell in ("bash", "zsh", "fish") if shutil.which(shell)]


@pytest.mark.parametrize("shell", RUNNABLE)
def test_quoting_round_trips_through_the_real_shell(shell: str) -> None:
    for value in TRICKY:
        script = render({"LMGATE_TEST_VALUE": value}, shell)
        if shell == "fish":
            command = [shell, "-c", 'eval $argv[1]; printf %s "$LMGATE_TEST_VALUE"', script]
        else:
            command = [shell, "-c", 'eval "$1"; printf %s "$LMGATE_TEST_VALUE"', shell, script]
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=10)
        assert out.stdout == value, script


def test_bash_is_available_for_the_round_trip() -> None:
    # The round trip above is the real proof of the quoting; it must run at least for bash.
    assert "bash" in RUNNABLE


@pytest.mark.parametrize(
    ("platform", "shell_env", "expected"),
    [
        ("linux", "/bin/bash", "bash"),
        ("linux", "/usr/bin/zsh", "zsh"),
        ("darwin", "/bin/zsh", "zsh"),
        ("linux", "/usr/local/bin/fish", "fish"),
        ("linux", "/usr/bin/pwsh", "powershell"),
        ("linux", "/bin/dash", "bash"),
        ("linux", None, "bash"),
        ("win32", "/usr/bin/zsh", "powershell"),
    ],
)
def test_default_shell(
    monkeypatch: pytest.MonkeyPatch, platform: str, shell_env: str | None, expected: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    if shell_env is None:
        monkeypatch.delenv("SHELL", raising=False)
    else:
        monkeypatch.setenv("SHELL", shell_env)
    assert default_shell() == expected
