"""Write a file so that at every instant of the write, even a kill or a power cut, it is whole."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path

__all__ = ["BACKUP_SUFFIX", "backup_path", "make_private_dirs", "write_atomic"]

BACKUP_SUFFIX = ".bak"
# A temporary file a killed writer left behind is removed by a later write once it is this old;
# a younger one may belong to another process writing the same file right now.
_STALE_AFTER = 600.0


def backup_path(path: Path) -> Path:
    """Where `write_atomic(path, ..., backup=True)` keeps the version it replaced."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def write_atomic(
    path: Path | str, data: bytes | str, *, backup: bool = True, mode: int | None = 0o600
) -> Path:
    """Put `data` (str is written as UTF-8) in `path`, which is either its old or its new content
    at every moment: a temporary file in the same folder is written, flushed and fsynced, then
    renamed over `path` (`os.replace`, atomic on POSIX and NTFS), then the folder is fsynced so
    the rename itself survives a power cut.

    `backup`: the version replaced is kept in `path.bak` (user-only), itself written the same
    way, so `.bak` too is whole at every moment. `mode`: the file's permissions (user-only by
    default); None keeps the mode of the file replaced (0o600 for a new one). A symbolic link is
    kept and the file it points to is replaced. Missing folders are created user-only. Returns
    the path written.
    """
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    make_private_dirs(target.parent)
    try:
        old_stat = target.stat()
    except FileNotFoundError:
        old_stat = None
    if mode is None:
        mode = stat.S_IMODE(old_stat.st_mode) if old_stat is not None else 0o600
    if backup and old_stat is not None and stat.S_ISREG(old_stat.st_mode):
        try:
            previous = target.read_bytes()
        except FileNotFoundError:  # another writer moved it away between the two calls
            pass
        else:
            _replace(backup_path(target), previous, 0o600)
    _replace(target, payload, mode)
    _sync_dir(target.parent)
    _sweep(target)
    return path


def _replace(path: Path, payload: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _sync_dir(directory: Path) -> None:
    # Windows cannot open a folder as a file; NTFS journals the rename itself.
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError:  # some file systems (network, FUSE) refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and its missing parents readable by the user only (0700); existing
    folders are left as they are."""
    if directory.is_dir():
        return
    missing: list[Path] = []
    path = directory
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _sweep(path: Path) -> None:
    """Remove the temporary files killed writes of `path` (or its backup) left behind."""
    cutoff = time.time() - _STALE_AFTER
    for name in (path.name, path.name + BACKUP_SUFFIX):
        for leftover in path.parent.glob(f".{_glob_escape(name)}.*.tmp"):
            with contextlib.suppress(OSError):
                if leftover.lstat().st_mtime < cutoff:
                    leftover.unlink()


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
