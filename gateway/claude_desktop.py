"""Point Claude Desktop's third-party inference at the gateway, and undo exactly that.

Claude Desktop keeps its third-party configurations in a config library folder: one
`<uuid>.json` per configuration and `_meta.json` naming them and the one applied
(`{"appliedId": …, "entries": [{"id": …, "name": …}]}`). Apply adds LM Gate's own entry and
makes it the applied one; the record beside the folder (`configLibrary.lmgate.json`) keeps
`_meta.json` as it was, byte for byte, and which folders LM Gate created. Restore puts
`_meta.json` back exactly when nothing changed it since (otherwise it takes LM Gate's entry
out and gives back the previously applied id), removes LM Gate's entry file and the folders it
created, and deletes the record: no backup file stays behind.

As with `claude_settings`, `plan_apply`/`plan_restore` compute everything first so the change
can be shown, and `write` refuses when a file changed after the preview.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.atomicfile import write_atomic
from gateway.config import GatewayConfig
from gateway.envline import NO_TOKEN

__all__ = [
    "ENTRY_NAME",
    "MANIFEST_SUFFIX",
    "META_NAME",
    "ClaudeDesktopError",
    "DesktopChange",
    "applied_url",
    "desired_config",
    "inference_models",
    "library_path",
    "plan_apply",
    "plan_restore",
    "write",
]

ENTRY_NAME = "LM Gate"
META_NAME = "_meta.json"
MANIFEST_SUFFIX = ".lmgate.json"
# Names the gateway routes by role whatever the model chosen later ("sonnet" → the big model,
# "opus" → the opus model or else big, "haiku" → the small model), so changing a model in
# LM Gate needs no new apply.
_ROLE_MODELS = (
    ("big", "claude-sonnet-lmgate", "sonnet"),
    ("opus", "claude-opus-lmgate", "opus"),
    ("small", "claude-haiku-lmgate", "haiku"),
)


class ClaudeDesktopError(Exception):
    """The configuration cannot be changed safely; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class FileChange:
    path: Path
    before: str | None  # None: the file does not exist
    after: str | None  # None: the file is removed


@dataclass(frozen=True, slots=True)
class DesktopChange:
    """A change to Claude Desktop's config library, computed but not written."""

    library: Path
    changes: tuple[FileChange, ...]
    manifest: dict[str, Any] | None  # None: the record is removed (a restore)
    remove_dirs: tuple[Path, ...]  # folders LM Gate created, removed on restore when empty
    action: str  # "apply" | "restore"
    secret: str | None = None  # the token in the entry, never shown in the diff

    @property
    def changed(self) -> bool:
        return any(c.before != c.after for c in self.changes) or bool(self.remove_dirs)

    @property
    def manifest_path(self) -> Path:
        return _manifest_path(self.library)

    def diff(self) -> str:
        out: list[str] = []
        for change in self.changes:
            if change.before == change.after:
                continue
            name = str(change.path)
            lines = difflib.unified_diff(
                (change.before or "").splitlines(keepends=True),
                (change.after or "").splitlines(keepends=True),
                f"{name} (now)" if change.before is not None else "/dev/null",
                f"{name} (after {self.action})" if change.after is not None else "/dev/null",
                n=2,
            )
            out.extend(line if line.endswith("\n") else line + "\n" for line in lines)
        text = "".join(out)
        return text.replace(self.secret, "<the gateway token>") if self.secret else text


def library_path(
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    platform: str | None = None,
) -> Path:
    """Claude Desktop's per-user config library for third-party inference:
    macOS `~/Library/Application Support/Claude-3p/configLibrary`, Windows
    `%LOCALAPPDATA%\\Claude-3p\\configLibrary`, Linux `$XDG_CONFIG_HOME` (else `~/.config`)
    `/Claude-3p/configLibrary`."""
    environ = os.environ if environ is None else environ
    home = home or Path.home()
    platform = platform or sys.platform
    if platform == "darwin":
        base = home / "Library" / "Application Support"
    elif platform == "win32":
        local = environ.get("LOCALAPPDATA")
        base = Path(local) if local else home / "AppData" / "Local"
    else:
        xdg = environ.get("XDG_CONFIG_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "Claude-3p" / "configLibrary"


def inference_models(config: GatewayConfig) -> list[dict[str, Any]]:
    """The `inferenceModels` list: the big model first (Desktop's default), then opus when set
    apart, then the small one; each named `claude-…` with its family tier."""
    chosen = {"big": config.big, "opus": config.opus, "small": config.small or config.big}
    models = []
    for role, name, tier in _ROLE_MODELS:
        if role == "opus" and config.opus is None:
            continue
        label = chosen[role] or f"the {role} model"
        models.append(
            {
                "name": name,
                "labelOverride": f"{label} (LM Gate)",
                "supports1m": False,
                "prefer1m": False,
                "anthropicFamilyTier": tier,
                "isFamilyDefault": True,
            }
        )
    return models


def desired_config(config: GatewayConfig, *, token: str | None) -> dict[str, Any]:
    """LM Gate's configuration entry, as Claude Desktop reads it."""
    return {
        "inferenceProvider": "gateway",
        # Without /v1/messages: Desktop appends the path itself.
        "inferenceGatewayBaseUrl": config.base_url,
        # Desktop has no helper command for the key: the token itself, or the placeholder.
        "inferenceGatewayApiKey": token or NO_TOKEN,
        "inferenceGatewayAuthScheme": "bearer",
        # The static list below is what Desktop offers; discovery would replace it.
        "modelDiscoveryEnabled": False,
        "modelPrefer1mContext": False,
        "inferenceModels": inference_models(config),
        "autoModeEnabled": False,
        "toolSearchEnabled": False,
    }


def plan_apply(
    config: GatewayConfig,
    *,
    token: str | None,
    library: Path | None = None,
    entry_id: str | None = None,
) -> DesktopChange:
    """LM Gate's entry written and applied; `_meta.json` as it was is kept in the record."""
    library = library or library_path()
    old = _read_manifest(library)
    meta_path = library / META_NAME
    meta_text = _read_text(meta_path)
    meta = _parse_meta(meta_path, meta_text)
    if old is not None:
        entry_id = str(old["entry_id"])
        original_meta = old.get("meta_before")
        created = [str(d) for d in old.get("created_dirs", [])]
    else:
        entry_id = entry_id or str(uuid.uuid4())
        original_meta = meta_text
        created = [str(d) for d in _missing_dirs(library)]
    entry_path = library / f"{entry_id}.json"
    entry_after = json.dumps(desired_config(config, token=token), indent=2) + "\n"
    entries = [e for e in meta.get("entries", []) if not _is_entry(e, entry_id)]
    entries.append({"id": entry_id, "name": ENTRY_NAME})
    new_meta = {**meta, "appliedId": entry_id, "entries": entries}
    meta_after = _dumps(new_meta, meta_text)
    manifest = {
        "version": 1,
        "base_url": config.base_url,
        "entry_id": entry_id,
        "entry_written": entry_after,
        "meta_before": original_meta,
        "meta_written": meta_after,
        "applied_before": _applied_id(original_meta),
        "created_dirs": created,
    }
    changes = (
        FileChange(entry_path, _read_text(entry_path), entry_after),
        FileChange(meta_path, meta_text, meta_after),
    )
    return DesktopChange(library, changes, manifest, (), "apply", token)


def plan_restore(library: Path | None = None) -> DesktopChange:
    """The config library as before LM Gate: `_meta.json` byte for byte when unchanged since."""
    library = library or library_path()
    manifest = _read_manifest(library)
    if manifest is None:
        raise ClaudeDesktopError(
            f"LM Gate has not changed {library} (no {library.name}{MANIFEST_SUFFIX} beside it), "
            "so there is nothing to restore"
        )
    entry_id = str(manifest["entry_id"])
    entry_path = library / f"{entry_id}.json"
    entry_now = _read_text(entry_path)
    meta_path = library / META_NAME
    meta_now = _read_text(meta_path)
    if meta_now == manifest.get("meta_written"):
        meta_after = manifest.get("meta_before")
    else:
        # Changed since (Desktop rewrites it): take LM Gate's entry out, give back the id.
        meta = _parse_meta(meta_path, meta_now)
        if meta_now is None:
            meta_after = None
        else:
            if meta.get("appliedId") == entry_id:
                previous = manifest.get("applied_before")
                if previous is None:
                    meta.pop("appliedId", None)
                else:
                    meta["appliedId"] = previous
            if isinstance(meta.get("entries"), list):
                meta["entries"] = [e for e in meta["entries"] if not _is_entry(e, entry_id)]
            meta_after = _dumps(meta, meta_now)
    # An entry the user edited in Desktop since is still removed: it is LM Gate's, and a
    # library entry with no line in _meta.json would be an orphan.
    changes = (
        FileChange(entry_path, entry_now, None),
        FileChange(meta_path, meta_now, meta_after),
    )
    dirs = tuple(Path(d) for d in manifest.get("created_dirs", []))
    secret = _entry_key(entry_now)
    return DesktopChange(library, changes, None, dirs, "restore", secret)


def write(plan: DesktopChange) -> None:
    """Put the planned files in place. Refuses when a file changed since the plan was made."""
    for change in plan.changes:
        if _read_text(change.path) != change.before:
            raise ClaudeDesktopError(
                f"{change.path} changed since the change was previewed; review it again"
            )
    if plan.manifest is not None:
        plan.library.mkdir(parents=True, exist_ok=True)
        # The record first: a crash after it leaves something restore can undo.
        manifest_text = json.dumps(plan.manifest, indent=2) + "\n"
        write_atomic(plan.manifest_path, manifest_text, backup=False, mode=0o600)
    for change in plan.changes:
        if change.after is None:
            change.path.unlink(missing_ok=True)
        elif change.after != change.before:
            mode = change.path.stat().st_mode & 0o7777 if change.before is not None else 0o600
            write_atomic(change.path, change.after, backup=False, mode=mode)
    if plan.manifest is None:
        plan.manifest_path.unlink(missing_ok=True)
        # Deepest first; a folder that holds anything else stays.
        for folder in sorted(plan.remove_dirs, key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()
            except OSError:
                pass


def applied_url(library: Path | None = None) -> str | None:
    """The gateway URL LM Gate's entry was applied with; None when it is not applied."""
    try:
        manifest = _read_manifest(library or library_path())
    except ClaudeDesktopError:
        return None
    url = manifest.get("base_url") if manifest else None
    return url if isinstance(url, str) else None


# --- files --------------------------------------------------------------------------------------


def _manifest_path(library: Path) -> Path:
    return library.with_name(library.name + MANIFEST_SUFFIX)


def _read_text(path: Path) -> str | None:
    # Bytes, then UTF-8: read_text would turn CRLF into LF, and restore must be exact.
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClaudeDesktopError(f"{path} cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ClaudeDesktopError(f"{path} is not UTF-8 text; nothing was changed") from None


def _parse_meta(path: Path, text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClaudeDesktopError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix it or move it "
            "aside, then try again. Nothing was changed"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("entries", []), list):
        raise ClaudeDesktopError(
            f"{path} is not a config library index Claude Desktop wrote; nothing was changed"
        )
    return data


def _applied_id(meta_text: str | None) -> str | None:
    try:
        data = json.loads(meta_text) if meta_text else {}
    except json.JSONDecodeError:
        return None
    applied = data.get("appliedId") if isinstance(data, dict) else None
    return applied if isinstance(applied, str) else None


def _entry_key(text: str | None) -> str | None:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return None
    key = data.get("inferenceGatewayApiKey") if isinstance(data, dict) else None
    return key if isinstance(key, str) and key and key != NO_TOKEN else None


def _is_entry(entry: Any, entry_id: str) -> bool:
    return isinstance(entry, dict) and entry.get("id") == entry_id


def _read_manifest(library: Path) -> dict[str, Any] | None:
    path = _manifest_path(library)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClaudeDesktopError(
            f"LM Gate's record of its changes, {path}, is unreadable ({exc})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("entry_id"), str):
        raise ClaudeDesktopError(f"{path} is not a record LM Gate wrote")
    return data


def _missing_dirs(library: Path) -> list[Path]:
    missing = []
    folder = library
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _dumps(data: dict[str, Any], like: str | None) -> str:
    # Two spaces unless the file uses another indent; no trailing newline when it had none.
    indent: str | int = 2
    if like:
        for line in like.splitlines()[1:2]:
            stripped = line[: len(line) - len(line.lstrip())]
            if stripped:
                indent = stripped
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return text + "\n" if like is None or like.endswith("\n") else text
