"""Following a JSON value or a closing tag through a stream cut anywhere: where a call written
as text ends, and (for JSON) giving up early on what cannot be a call."""

from __future__ import annotations

import re
from typing import Final

import orjson

__all__ = ["CALL_KEYS", "JsonScan", "TagScan"]

# Keys a call object may carry: Hermes/Qwen write arguments, Llama 3 parameters, some models
# input; Mistral adds an id; OpenAI-shaped copies nest name and arguments under function.
CALL_KEYS: Final = frozenset({"name", "arguments", "parameters", "input", "id", "type", "function"})

_NOT_BLANK = re.compile(r"\S")
_STRUCTURE = re.compile(r'["{}\[\]:,]')
_IN_STRING = re.compile(r'["\\]')


class JsonScan:
    """Follows a JSON value as it streams to find where it ends; in call mode it also gives up
    early on what cannot be a call (a key no call has, a name no tool has, a bare scalar)."""

    __slots__ = (
        "call_depth",
        "check",
        "escape",
        "expect",
        "failed",
        "in_string",
        "key",
        "name",
        "named",
        "role",
        "stack",
        "text",
        "tools",
        "trim",
    )

    def __init__(self, tools: frozenset[str] | None) -> None:
        self.tools = tools or frozenset()
        self.check = tools is not None  # None: an arguments object, no call checks
        self.stack: list[str] = []
        self.in_string = False
        self.escape = False
        self.call_depth = 0  # depth inside a call object: 1 for {…}, 2 for [{…}]
        self.expect = ""  # in a call object: key, colon, value or next
        self.key = ""
        self.role = ""  # the string being read: key, name, value or "" (not tracked)
        self.text: list[str] = []
        self.failed = False
        self.named = False
        self.name = ""  # the declared tool's name, once read
        self.trim = 0

    def closers(self) -> str | None:
        """What closes the value if the stream stopped here; None inside a string."""
        if self.in_string:
            return None
        return "".join("}" if c == "{" else "]" for c in reversed(self.stack))

    def feed(self, text: str, i: int = 0) -> int | None:
        """Scan text[i:]; the index just past the value's end, or None (or `failed`)."""
        n, stack = len(text), self.stack
        while i < n:
            if self.in_string:
                i = self._string(text, i)
                if self.failed:
                    return None
                continue
            match = _STRUCTURE.search(text, i)
            j = match.start() if match else n
            where = self._where() if self.check else ""
            if where and j > i and _NOT_BLANK.search(text, i, j):
                if where == "call" and self.expect in ("value", "scalar"):
                    self.expect = "scalar"  # a number, true, false or null
                else:
                    self.failed = True
                    return None
            if match is None:
                return None
            c, i = text[j], j + 1
            if where == "call":
                if not self._call_char(c):
                    self.failed = True
                    return None
            elif where == "list" and c not in "{,]":
                self.failed = True
                return None
            if c == '"':
                self.in_string = True
            elif c in "{[":
                if not stack:
                    self.call_depth = 1 if c == "{" else 2
                stack.append(c)
                if self.check and len(stack) == self.call_depth and c == "{":
                    self.expect = "key"
            elif c in "}]":
                stack.pop()
                if not stack:
                    return i
        return None

    def _where(self) -> str:
        """ "call" inside a call object, "list" in the list of calls, else ""."""
        depth = len(self.stack)
        if depth and depth == self.call_depth and self.stack[-1] == "{":
            return "call"
        return "list" if depth == 1 and self.call_depth == 2 else ""

    def _call_char(self, c: str) -> bool:
        """Follow a structural character inside a call object; False if no call has it."""
        expect = self.expect
        if c == '"':
            if expect not in ("key", "value"):
                return False
            self.role = "key" if expect == "key" else "name" if self.key == "name" else "value"
            self.text = []
        elif c in "{[":
            if expect != "value":
                return False
            self.expect = "next"
        elif c == ":":
            if expect != "colon":
                return False
            self.expect = "value"
        elif c == ",":
            if expect not in ("next", "scalar"):
                return False
            self.expect = "key"
        elif c == "}":
            # A comma before `}` is one of the repairs allowed, so `key` may close too.
            return expect in ("key", "next", "scalar")
        else:
            return False
        return True

    def _string(self, text: str, i: int) -> int:
        keep = self.text if self.role in ("key", "name") else None
        if self.escape:
            self.escape = False
            if keep is not None:
                keep.append(text[i])
            return i + 1
        match = _IN_STRING.search(text, i)
        if match is None:
            if keep is not None:
                keep.append(text[i:])
            return len(text)
        j = match.start()
        if text[j] == "\\":
            if keep is not None:
                keep.append(text[i : j + 2])
            if j + 1 == len(text):
                self.escape = True
            return j + 2
        if keep is not None:
            keep.append(text[i:j])
        self.in_string = False
        role, self.role = self.role, ""
        if role:
            self._read(role, "".join(self.text))
        return j + 1

    def _read(self, role: str, raw: str) -> None:
        try:
            value = orjson.loads(f'"{raw}"')
        except orjson.JSONDecodeError:
            value = raw
        if role == "key":
            self.key, self.expect = value, "colon"
            self.failed = value not in CALL_KEYS
            return
        self.expect = "next"
        if role == "name":
            if value in self.tools:
                # A declared tool's name: this is a call, only its end is left to find.
                self.named, self.check, self.name = True, False, value
            else:
                self.failed = True


class TagScan:
    """Finds the first of some closing tags in a stream, however the tags are cut."""

    __slots__ = ("carry", "failed", "keep", "tags", "trim")

    def __init__(self, tags: tuple[str, ...]) -> None:
        self.tags = tags
        self.keep = max(len(tag) for tag in tags) - 1
        self.carry = ""
        self.failed = False
        self.trim = 0  # how much of what feed() returns is the consumed tag

    def feed(self, text: str, i: int = 0) -> int | None:
        """Index in `text` past `</function>` or at `</tool_call>` (it may be negative when the
        tag began in an earlier piece), or None."""
        hay = self.carry + text[i:]
        best, found = -1, ""
        for tag in self.tags:
            k = hay.find(tag)
            if k >= 0 and (best < 0 or k < best):
                best, found = k, tag
        if best < 0:
            self.carry = hay[-self.keep :]
            return None
        start = i - len(self.carry) + best
        if found == "</function>":
            self.trim = len(found)
            return start + len(found)
        return start
