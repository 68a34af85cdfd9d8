"""`lmgate route` and the routes of `lmgate serve`'s flags: what ends up in the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import BackendConfig, load_config
from tests.gateway.test_cli import Served, config_file, memory, run, served

__all__ = ["config_file", "memory", "served"]  # fixtures, used by name


def test_repeated_backends_are_the_fallbacks_of_the_first(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--backend", "http://a:1234/v1", "--backend", "http://b:11434"]
    assert run(capsys, *argv, "--backend", "http://c:8080")[0] == 0
    assert served.config.backends == [
        BackendConfig(id="default", url="http://a:1234/v1", fallbacks=["fallback-1", "fallback-2"]),
        BackendConfig(id="fallback-1", url="http://b:11434"),
        BackendConfig(id="fallback-2", url="http://c:8080"),
    ]
    assert served.config.discover is False


def test_serve_route_flags(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "serve",
        "--route",
        "images=qwen2.5-vl,lms:gemma3",
        "--route",
        "long-context=wide:qwen3",
        "--long-context-threshold",
        "90000",
        "--route",
        "big=spare:qwen3",
        "--thinking-effort",
        "max",
        "--route",
        "thinking=big",
    ]
    assert run(capsys, *argv)[0] == 0
    routes = served.config.routes
    assert routes.images is not None and routes.images.targets == ["qwen2.5-vl", "lms:gemma3"]
    assert routes.long_context is not None
    assert (routes.long_context.targets, routes.long_context.threshold) == (["wide:qwen3"], 90000)
    assert routes.thinking is not None and routes.thinking.min_effort == "max"
    assert routes.fallbacks == {"big": ["spare:qwen3"]}


@pytest.mark.parametrize("flag", ["images", "images=", "nowhere=x"])
def test_a_bad_route_flag_says_how_to_write_it(
    flag: str, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "serve", "--route", flag)
    assert status == 2 and "--route" in err and not served.calls


def test_route_set_list_clear_write_the_config(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = ["--config", str(config_file)]
    status, out, _ = run(
        capsys, "route", "set", "long_context", "a:m", "b:m", "--threshold", "500", *conf
    )
    assert status == 0 and "long_context  a:m → b:m  (prompt > 500 tokens)" in out
    assert run(capsys, "route", "set", "subagent", "small", *conf)[0] == 0
    assert run(capsys, "route", "set", "big", "spare:qwen3", *conf)[0] == 0
    routes = load_config(config_file).config.routes
    assert routes.long_context is not None and routes.long_context.threshold == 500
    assert routes.subagent is not None and routes.fallbacks == {"big": ["spare:qwen3"]}
    listing = run(capsys, "route", "list", *conf)[1]
    assert "subagent      small" in listing and "images        off" in listing
    assert "big           falls back to spare:qwen3" in listing
    assert run(capsys, "route", "clear", "subagent", *conf)[0] == 0
    assert run(capsys, "route", "clear", "big", *conf)[0] == 0
    routes = load_config(config_file).config.routes
    assert routes.subagent is None and routes.fallbacks == {}
    assert routes.long_context is not None  # untouched
    assert load_config(config_file).config.port == 9000  # the rest of the file kept


def test_route_set_without_targets_is_refused(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "route", "set", "images", "--config", str(config_file))
    assert status == 2 and "at least one TARGET" in err
