"""The config file: defaults, round trip, user-only modes, and a corrupt file set aside."""

from __future__ import annotations

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
