"""The request's `safeguards` entry, read leniently into what the review needs."""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DANGEROUS_TOOL_USE",
    "ReviewContext",
    "find_safeguard",
    "read_context",
]

DANGEROUS_TOOL_USE = "dangerous_tool_use"


@dataclass(frozen=True, slots=True)
class ReviewContext:
    """What the rules need from `classifier_context`; `raw` is the whole object, for the
    classifier's prompt. Paths are normalised for the client's platform, never checked on disk."""

    cwd: str
    home: str
    trusted: tuple[
        str, ...
    ]  # the primary directory (and its resolved forms) and the additional ones
    windows: bool
    allow: tuple[str, ...]  # permission rules, e.g. "Bash(npm test)", "Read(./.env)"
    deny: tuple[str, ...]
    auto_allow: tuple[str, ...]  # autoMode rules: prose for the classifier (or a permission rule)
    soft_deny: tuple[str, ...]
    hard_deny: tuple[str, ...]
    raw: Mapping[str, Any]

    def normalise(self, path: str, *, base: str | None = None) -> str:
        """`path` made absolute against `base` (the cwd by default), `~` expanded, `..` folded."""
        module = ntpath if self.windows else posixpath
        if path == "~" or path.startswith(("~/", "~\\")):
            path = self.home + path[1:]
        if not module.isabs(path):
            path = module.join(base or self.cwd, path)
        path = module.normpath(path)
        if self.windows:
            path = path.replace("/", "\\").lower()
        elif path.startswith("//"):
            path = "/" + path.lstrip("/")
        return path

    def within(self, path: str, roots: tuple[str, ...]) -> bool:
        sep = "\\" if self.windows else "/"
        for root in roots:
            if path == root or path.startswith(root.rstrip(sep) + sep):
                return True
        return False

    def trusted_path(self, path: str) -> bool:
        return self.within(path, self.trusted)


def find_safeguard(safeguards: Any) -> Mapping[str, Any] | None:
    """The `dangerous_tool_use` entry of a request's `safeguards`, or None."""
    if not isinstance(safeguards, list):
        return None
    for entry in safeguards:
        if isinstance(entry, Mapping) and entry.get("type") == DANGEROUS_TOOL_USE:
            return entry
    return None


def read_context(entry: Mapping[str, Any]) -> ReviewContext:
    """The review context from a `dangerous_tool_use` entry; missing pieces are empty, a value
    of the wrong shape is ignored (never an error: a refused safeguard denies actions)."""
    raw = entry.get("classifier_context")
    context: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    platform = _text(context.get("platform"))
    windows = platform.startswith("win")
    home = _text(context.get("home_dir"))
    cwd = _text(context.get("live_cwd"))
    directories = context.get("trusted_directories")
    found: list[str] = []
    if isinstance(directories, Mapping):
        primary = directories.get("primary")
        if isinstance(primary, Mapping):
            found += _paths(primary)
        additional = directories.get("additional")
        for extra in additional if isinstance(additional, list) else ():
            if isinstance(extra, Mapping):
                found += _paths(extra)
    if not cwd and found:
        cwd = found[0]
    shell = ReviewContext(
        cwd=cwd or ("c:\\" if windows else "/"),
        home=home,
        trusted=(),
        windows=windows,
        allow=(),
        deny=(),
        auto_allow=(),
        soft_deny=(),
        hard_deny=(),
        raw=context,
    )
    if home:
        shell = _replace(shell, home=shell.normalise(home))
    if not found and cwd:
        found = [cwd]  # Claude Code trusts its working directory; an older context may say no more
    trusted = tuple(dict.fromkeys(shell.normalise(path) for path in found if path))
    rules = context.get("rules")
    auto = context.get("auto_mode")
    return _replace(
        shell,
        cwd=shell.normalise(shell.cwd),
        trusted=trusted,
        allow=_rules(rules, "allow"),
        deny=_rules(rules, "deny"),
        auto_allow=_rules(auto, "allow"),
        soft_deny=_rules(auto, "soft_deny"),
        hard_deny=_rules(auto, "hard_deny"),
    )


def _replace(context: ReviewContext, **changes: Any) -> ReviewContext:
    values = {name: getattr(context, name) for name in context.__slots__}
    return ReviewContext(**{**values, **changes})


def _paths(directory: Mapping[str, Any]) -> list[str]:
    paths = [_text(directory.get("path"))]
    resolved = directory.get("resolved")
    paths += (
        [item for item in resolved if isinstance(item, str)] if isinstance(resolved, list) else []
    )
    return [path for path in paths if path]


def _rules(section: Any, key: str) -> tuple[str, ...]:
    """Rule texts: plain strings, or objects with the text under `rule` (permission rules come
    as {"rule": "Bash(npm test)", "canonical": …}). Claude Code's `$defaults` marker is no rule."""
    if not isinstance(section, Mapping):
        return ()
    items = section.get(key)
    out: list[str] = []
    for item in items if isinstance(items, list) else ():
        text = item.get("rule") if isinstance(item, Mapping) else item
        if isinstance(text, str) and text.strip() and text.strip() != "$defaults":
            out.append(text.strip())
    return tuple(out)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
