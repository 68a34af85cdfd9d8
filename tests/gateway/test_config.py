"""The config file: defaults, round trip, user-only modes, and a corrupt file set aside."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gateway.config import BackendConfig, GatewayConfig, load_config, save_config


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    loaded = load_config(tmp_path / "config.toml")
    assert loaded.problem is None
    assert loaded.config.host == "127.0.0.1" and loaded.config.port == 8082
    assert loaded.config.base_url == "http://127.0.0.1:8082"


def test_round_trip_is_user_only_and_keeps_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    cfg = GatewayConfig(port=9000, big="qwen", backends=[BackendConfig(id="x", url="http://h:1")])
    save_config(cfg, path)
    save_config(cfg.model_copy(update={"port": 9001}), path)
    assert load_config(path).config.port == 9001
    assert load_config(path).config.big == "qwen"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    backup = path.with_name("config.toml.bak")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert "9000" in backup.read_text()


def test_corrupt_file_is_set_aside_and_defaults_used(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("port = [not toml")
    loaded = load_config(path)
    assert loaded.config == GatewayConfig()
    assert loaded.problem is not None and "config.toml.corrupt-1" in loaded.problem
    assert (tmp_path / "config.toml.corrupt-1").read_text() == "port = [not toml"
    assert not path.exists()


def test_invalid_values_are_set_aside_too(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("port = 99999999\n")
    loaded = load_config(path)
    assert loaded.config.port == 8082 and loaded.problem is not None


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('port = 9100\nfuture_setting = "x"\n')
    assert load_config(path).config.port == 9100


def test_ipv6_base_url() -> None:
    assert GatewayConfig(host="::1", port=1).base_url == "http://[::1]:1"


# --- a lost file and its backup -----------------------------------------------------------------

SAVED = GatewayConfig(
    port=9300, big="kept-big", allowed_hosts=["gpu-box"], backends=[BackendConfig(id="x")]
)


def saved_twice(path: Path) -> None:
    """A config file and, beside it, the backup of the version before (port 9299)."""
    save_config(SAVED.model_copy(update={"port": 9299}), path)
    save_config(SAVED, path)


def test_a_missing_file_with_a_whole_backup_gives_the_backup_loudly(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    saved_twice(path)
    path.unlink()
    loaded = load_config(path)
    assert loaded.config == SAVED.model_copy(update={"port": 9299})
    assert loaded.recovered_from == tmp_path / "config.toml.bak"
    assert loaded.problem is not None
    assert "is missing" in loaded.problem and "config.toml.bak" in loaded.problem
    assert "not defaults" in loaded.problem


def test_a_corrupt_file_with_a_whole_backup_is_set_aside_and_the_backup_used(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    saved_twice(path)
    path.write_text("port = [torn")
    loaded = load_config(path)
    assert loaded.config.port == 9299 and loaded.config.big == "kept-big"
    assert loaded.problem is not None
    assert "config.toml.corrupt-1" in loaded.problem and "config.toml.bak" in loaded.problem
    assert (tmp_path / "config.toml.corrupt-1").read_text() == "port = [torn"


def test_an_unreadable_file_with_a_whole_backup_gives_the_backup(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    saved_twice(path)
    path.unlink()
    path.mkdir()  # reading it fails with an OSError other than "not found"
    loaded = load_config(path)
    assert loaded.config.port == 9299
    assert loaded.problem is not None and "cannot be read" in loaded.problem


def test_a_missing_file_with_a_broken_backup_says_so(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    (tmp_path / "config.toml.bak").write_text("port = [torn")
    loaded = load_config(path)
    assert loaded.config == GatewayConfig()
    assert loaded.recovered_from is None
    assert loaded.problem is not None
    assert "cannot be read either" in loaded.problem and "defaults are in use" in loaded.problem


def test_the_whole_temporary_file_an_earlier_version_left_is_used(tmp_path: Path) -> None:
    # An earlier LM Gate moved the file to .bak, then the whole, fsynced .tmp into place: a
    # kill in between left the new settings in config.toml.tmp, newer than the backup.
    path = tmp_path / "config.toml"
    (tmp_path / "config.toml.bak").write_text("port = 9001\n")
    os.utime(tmp_path / "config.toml.bak", (1_000_000, 1_000_000))
    (tmp_path / "config.toml.tmp").write_text("port = 9002\n")
    loaded = load_config(path)
    assert loaded.config.port == 9002
    assert loaded.recovered_from == tmp_path / "config.toml.tmp"
    save_config(loaded.config, path)
    assert not (tmp_path / "config.toml.tmp").exists()
    assert load_config(path).problem is None


def test_saving_after_a_recovery_writes_the_file_and_keeps_the_backup(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    saved_twice(path)
    path.unlink()
    loaded = load_config(path)
    save_config(loaded.config, path)
    again = load_config(path)
    assert again.problem is None and again.recovered_from is None
    assert again.config.port == 9299
    assert "9299" in (tmp_path / "config.toml.bak").read_text()


ROUTES_TOML = """\
big = "main:qwen3-coder"

[[backends]]
id = "main"
url = "http://box1:11434"
fallbacks = ["spare"]

[[backends]]
id = "spare"
url = "http://box2:11434"

[routes.long_context]
threshold = 60000
targets = ["wide:qwen3-coder", "spare:qwen3-coder"]

[routes.images]
targets = ["qwen2.5-vl"]

[routes.thinking]
min_effort = "max"
targets = ["big"]

[routes.subagent]
targets = ["small"]

[routes.background]
targets = ["main:llama3.2:3b"]

[routes.fallbacks]
big = ["spare:qwen3-coder"]

[routes.breaker]
failures = 5
cooldown = 12.5
"""


def test_routes_round_trip_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(ROUTES_TOML)
    loaded = load_config(path)
    assert loaded.problem is None
    routes = loaded.config.routes
    assert routes.long_context is not None and routes.long_context.threshold == 60000
    assert routes.long_context.targets == ["wide:qwen3-coder", "spare:qwen3-coder"]
    assert routes.thinking is not None and routes.thinking.min_effort == "max"
    assert routes.subagent is not None and routes.subagent.targets == ["small"]
    assert routes.fallbacks == {"big": ["spare:qwen3-coder"]}
    assert (routes.breaker.failures, routes.breaker.cooldown) == (5, 12.5)
    assert loaded.config.backends[0].fallbacks == ["spare"]
    assert [name for name, _ in routes.configured()] == [
        "long_context",
        "images",
        "thinking",
        "subagent",
        "background",
    ]
    save_config(loaded.config, path)
    assert load_config(path).config == loaded.config


def test_a_route_without_targets_or_a_fallback_for_no_role_is_refused(tmp_path: Path) -> None:
    for text in ("[routes.images]\ntargets = []\n", '[routes.fallbacks]\nhaiku = ["x"]\n'):
        path = tmp_path / "config.toml"
        path.write_text(text)
        loaded = load_config(path)
        assert loaded.problem is not None and loaded.config.routes.images is None
        assert loaded.config.routes.fallbacks == {}
