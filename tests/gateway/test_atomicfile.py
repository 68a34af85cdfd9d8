from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from gateway.atomicfile import backup_path, write_atomic


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_user_only_and_keeps_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_atomic(path, "one = 1\n")
    assert path.read_text() == "one = 1\n"
    assert mode_of(path) == 0o600
    assert not backup_path(path).exists()  # nothing was replaced

    write_atomic(path, b"two = 2\n")
    assert path.read_bytes() == b"two = 2\n"
    assert backup_path(path).read_bytes() == b"one = 1\n"
    assert mode_of(backup_path(path)) == 0o600
    assert leftovers(tmp_path) == []


def test_no_backup_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    write_atomic(path, "{}\n", backup=False)
    assert not backup_path(path).exists()


def test_mode_none_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    path.chmod(0o644)
    write_atomic(path, '{"a": 1}\n', mode=None)
    assert mode_of(path) == 0o644
    assert mode_of(backup_path(path)) == 0o600  # the old text may hold what the user keeps private
    write_atomic(tmp_path / "new.json", "{}", mode=None)
    assert mode_of(tmp_path / "new.json") == 0o600


def test_creates_missing_folders_user_only(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "config.toml"
    write_atomic(path, "x = 1\n")
    assert path.read_text() == "x = 1\n"
    assert mode_of(tmp_path / "a") & 0o077 == 0
    assert mode_of(tmp_path / "a" / "b") & 0o077 == 0


def test_a_symlink_is_kept_and_its_target_written(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "settings.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"
    assert backup_path(real).read_text() == "old"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, "new", backup=False)
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_old_leftovers_of_killed_writes_are_swept_and_young_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    old = tmp_path / ".config.toml.abc123.tmp"
    old_backup = tmp_path / ".config.toml.bak.def456.tmp"
    young = tmp_path / ".config.toml.ghi789.tmp"
    unrelated = tmp_path / ".other.toml.jkl012.tmp"
    for leftover in (old, old_backup, young, unrelated):
        leftover.write_text("partial")
    an_hour_ago = time.time() - 3600
    for leftover in (old, old_backup, unrelated):
        os.utime(leftover, (an_hour_ago, an_hour_ago))
    write_atomic(path, "x = 1\n")
    assert leftovers(tmp_path) == sorted([unrelated.name, young.name])
