"""Point Claude Code at the gateway through its user settings file, and undo exactly that.

`plan_apply` and `plan_restore` compute the new file without touching anything, so the caller
can show the change first; `write` then puts it in place atomically, keeping the file's mode.
A manifest beside the settings (`settings.json.lmgate.json`) records, for every key written, the
value it replaced and the value written: restore puts back only the keys that still hold what
LM Gate wrote, so anything the user changed later survives. The manifest also keeps the file as
it was and as LM Gate wrote it: when nothing changed the file since, restore gives back the
original byte for byte (or removes a file LM Gate created). The untouched original is copied to
`settings.json.lmgate-backup` on the first apply, for recovery by hand while the settings are
applied; restore removes it with the manifest, so nothing stays behind.

The gateway token never goes into the file: Claude Code's `apiKeyHelper` runs `lmgate token`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from gateway.atomicfile import write_atomic
from gateway.config import GatewayConfig
from gateway.envline import NO_TOKEN, claude_env

__all__ = [
    "BACKUP_SUFFIX",
    "MANIFEST_SUFFIX",
    "ClaudeSettingsError",
    "SettingsChange",
    "applied_url",
    "desired_settings",
    "plan_apply",
    "plan_restore",
    "settings_path",
    "token_helper_command",
    "write",
]

MANIFEST_SUFFIX = ".lmgate.json"
BACKUP_SUFFIX = ".lmgate-backup"
HELPER_KEY = "apiKeyHelper"
# Written as "remove this key": a token placeholder would fight the helper for the header.
_ABSENT: Any = object()
# Keys that may hold a credential Claude Code would send instead of the helper's token.
_CREDENTIAL_KEYS = ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY")
_INDENT = re.compile(r"\{\s*?\n([ \t]+)\S")


class ClaudeSettingsError(Exception):
    """The settings file cannot be changed safely; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """A change to Claude Code's settings, computed but not written."""

    path: Path
    before: str | None  # the file's text now; None when it does not exist
    after: str
    manifest: dict[str, Any] | None  # None: the manifest is removed (a restore)
    action: str  # "apply" | "restore"
    remove: bool = False  # the restore removes the file (LM Gate created it)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def manifest_path(self) -> Path:
        return _manifest_path(self.path)

    def diff(self) -> str:
        before = (self.before or "").splitlines(keepends=True)
        after = self.after.splitlines(keepends=True)
        name = str(self.path)
        lines = difflib.unified_diff(
            before, after, f"{name} (now)", f"{name} (after {self.action})", n=2
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def settings_path(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """Claude Code's user settings: `$CLAUDE_CONFIG_DIR/settings.json` when set, else
    `~/.claude/settings.json` (`%USERPROFILE%\\.claude\\settings.json` on Windows)."""
    environ = os.environ if environ is None else environ
    configured = environ.get("CLAUDE_CONFIG_DIR")
    if configured:
        return Path(configured).expanduser() / "settings.json"
    return (home or Path.home()) / ".claude" / "settings.json"


def token_helper_command() -> str:
    """The command Claude Code runs (in /bin/sh, Git Bash on Windows) to get the gateway token:
    this very install's `lmgate token`."""
    executable = PurePath(sys.executable).as_posix()
    if getattr(sys, "frozen", False):
        return shlex.join([executable, "token"])
    return shlex.join([executable, "-m", "gateway", "token"])


def desired_settings(
    config: GatewayConfig,
    *,
    token_set: bool,
    helper: str | None = None,
    auto_compact_window: int | None = None,
) -> dict[str, Any]:
    """Setting path ("env.NAME" or "apiKeyHelper") → value, `_ABSENT` meaning "remove"."""
    env = claude_env(config, token=None, auto_compact_window=auto_compact_window)
    wanted: dict[str, Any] = {f"env.{name}": value for name, value in env.items()}
    if token_set:
        for name in _CREDENTIAL_KEYS:
            wanted[f"env.{name}"] = _ABSENT
        wanted[HELPER_KEY] = helper or token_helper_command()
    else:
        wanted["env.ANTHROPIC_AUTH_TOKEN"] = NO_TOKEN
    return wanted


def plan_apply(
    config: GatewayConfig,
    *,
    token_set: bool,
    helper: str | None = None,
    auto_compact_window: int | None = None,
    path: Path | None = None,
) -> SettingsChange:
    """The settings with the gateway's variables merged in; what they replace is recorded."""
    path = path or settings_path()
    before, data = _read(path)
    old = _read_manifest(path)
    old_entries = {e["key"]: e for e in old.get("keys", [])} if old else {}
    wanted = desired_settings(
        config, token_set=token_set, helper=helper, auto_compact_window=auto_compact_window
    )
    had_env = bool(old.get("had_env", True)) if old else isinstance(data.get("env"), dict)
    entries = []
    for key in [*wanted, *(k for k in old_entries if k not in wanted)]:
        current = _get(data, key)
        entry = old_entries.get(key)
        if entry is not None and _same(current, _load_value(entry, "written")):
            previous = _load_value(entry, "previous")  # still ours: keep the original
        else:
            previous = current
        target = wanted.get(key, previous)
        _set(data, key, target)
        if key in wanted:
            entries.append(
                {"key": key, **_dump_value("previous", previous), **_dump_value("written", target)}
            )
    after = _dumps(data, before)
    manifest = {
        "version": 1,
        "applied_at": time.time(),
        "base_url": config.base_url,
        "had_env": had_env,
        "keys": entries,
        "exact": _exact(old, before, after),
    }
    return SettingsChange(path, before, after, manifest, "apply")


def _exact(old: dict[str, Any] | None, before: str | None, after: str) -> dict[str, Any] | None:
    """The file before LM Gate's first apply and as LM Gate last wrote it, for an exact restore;
    None when a re-apply finds the file changed by someone else since (then the original no
    longer holds everything worth keeping)."""
    if old is None:
        return {"before": before, "after": after}
    previous = old.get("exact")
    if isinstance(previous, dict) and previous.get("after") == before:
        return {"before": previous.get("before"), "after": after}
    return None


def plan_restore(path: Path | None = None) -> SettingsChange:
    """The settings with every key LM Gate wrote, and still holding its value, put back."""
    path = path or settings_path()
    manifest = _read_manifest(path)
    if manifest is None:
        raise ClaudeSettingsError(
            f"LM Gate has not changed {path} (no {path.name}{MANIFEST_SUFFIX} beside it), so "
            "there is nothing to restore"
        )
    before, data = _read(path)
    exact = manifest.get("exact")
    if isinstance(exact, dict) and before is not None and exact.get("after") == before:
        # Nothing changed the file since LM Gate wrote it: the original, byte for byte.
        original = exact.get("before")
        if original is None:
            return SettingsChange(path, before, "", None, "restore", remove=True)
        if isinstance(original, str):
            return SettingsChange(path, before, original, None, "restore")
    for entry in manifest.get("keys", []):
        key = entry["key"]
        if _same(_get(data, key), _load_value(entry, "written")):
            _set(data, key, _load_value(entry, "previous"))
    if not manifest.get("had_env") and data.get("env") == {}:
        del data["env"]
    return SettingsChange(path, before, _dumps(data, before), None, "restore")


def write(plan: SettingsChange) -> None:
    """Put the planned file in place. Refuses when the file changed since the plan was made."""
    now, _ = _read(plan.path)
    if now != plan.before:
        raise ClaudeSettingsError(
            f"{plan.path} changed since the change was previewed; review it again"
        )
    target = plan.path.resolve() if plan.path.is_symlink() else plan.path
    manifest_path = plan.manifest_path
    mode = target.stat().st_mode & 0o7777 if plan.before is not None else 0o600
    if plan.action == "apply" and not manifest_path.exists() and plan.before is not None:
        original = plan.path.with_name(plan.path.name + BACKUP_SUFFIX)
        write_atomic(original, target.read_bytes(), backup=False, mode=mode)
    # No `.bak`: the manifest and the untouched original above are how a change is undone.
    if plan.remove:
        target.unlink(missing_ok=True)
    else:
        write_atomic(target, plan.after, backup=False, mode=mode)
    if plan.manifest is None:
        manifest_path.unlink(missing_ok=True)
        plan.path.with_name(plan.path.name + BACKUP_SUFFIX).unlink(missing_ok=True)
    else:
        write_atomic(manifest_path, json.dumps(plan.manifest, indent=2) + "\n", backup=False)


def applied_url(path: Path | None = None) -> str | None:
    """The gateway URL the settings were last applied with; None when they are not applied."""
    try:
        manifest = _read_manifest(path or settings_path())
    except ClaudeSettingsError:
        return None
    url = manifest.get("base_url") if manifest else None
    return url if isinstance(url, str) else None


# --- the file -----------------------------------------------------------------------------------


def _read(path: Path) -> tuple[str | None, dict[str, Any]]:
    try:
        # Bytes, then UTF-8: read_text would turn CRLF into LF, and restore must be exact.
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None, {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaudeSettingsError(f"{path} cannot be read: {exc}") from None
    if not text.strip():
        return text, {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClaudeSettingsError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix it or move it "
            "aside, then try again. Nothing was changed"
        ) from None
    if not isinstance(data, dict):
        raise ClaudeSettingsError(f"{path} does not hold a JSON object; nothing was changed")
    if "env" in data and not isinstance(data["env"], dict):
        raise ClaudeSettingsError(
            f"the `env` entry in {path} is not an object; nothing was changed"
        )
    return text, data


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    manifest_path = _manifest_path(path)
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClaudeSettingsError(
            f"LM Gate's record of its changes, {manifest_path}, is unreadable ({exc}); the "
            f"original settings are in {path.name}{BACKUP_SUFFIX}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ClaudeSettingsError(f"{manifest_path} is not a record LM Gate wrote")
    return data


def _dumps(data: dict[str, Any], like: str | None) -> str:
    # The file's own indent keeps the diff to the lines that change; Claude Code itself writes
    # two spaces and literal non-ASCII.
    found = _INDENT.search(like or "")
    indent: str | int = found.group(1) if found else 2
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


# --- keys ---------------------------------------------------------------------------------------


def _get(data: dict[str, Any], key: str) -> Any:
    if key.startswith("env."):
        env = data.get("env")
        return env.get(key[4:], _ABSENT) if isinstance(env, dict) else _ABSENT
    return data.get(key, _ABSENT)


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if key.startswith("env."):
        holder = data.get("env")
        if holder is None:
            if value is _ABSENT:
                return
            holder = data["env"] = {}
        key = key[4:]
    else:
        holder = data
    if value is _ABSENT:
        holder.pop(key, None)
    else:
        holder[key] = value


def _same(a: Any, b: Any) -> bool:
    return a is b if _ABSENT in (a, b) else bool(a == b)


def _dump_value(name: str, value: Any) -> dict[str, Any]:
    return (
        {f"{name}_present": False} if value is _ABSENT else {f"{name}_present": True, name: value}
    )


def _load_value(entry: Mapping[str, Any], name: str) -> Any:
    return entry.get(name) if entry.get(f"{name}_present") else _ABSENT
