"""Reading a call written as text into (name, input), with only the repairs that invent
nothing: trailing commas, control characters in strings, brackets missing at the end of the
stream, one call wrapped in a list; `<parameter=…>` values typed only by a schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from gateway.translate.textcalls.endings import CALL_KEYS
from gateway.translate.textcalls.formats import Opening

__all__ = ["Unreadable", "loads_lenient", "read_calls"]

_ARGUMENT_KEYS: Final = ("arguments", "parameters", "input")
_FUNCTION_KEYS: Final = frozenset({"name", *_ARGUMENT_KEYS})
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_PARAMETER = re.compile(
    r"<parameter=([^>\n]+)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|$)", re.DOTALL
)
_CONTROL = {code: f"\\u{code:04x}" for code in range(0x20)} | {
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
}


class Unreadable(ValueError):
    """A call that is there but cannot be read without inventing something."""


def read_calls(
    plan: Opening,
    body: str,
    *,
    closers: str | None,
    truncated: bool,
    tools: frozenset[str],
    schemas: Mapping[str, Any],
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]] | None:
    """The calls in a body, with the repairs made; None when it is not a call to a declared
    tool; raises Unreadable when it is one that cannot be read."""
    notes: list[str] = []
    if plan.body == "function":
        if truncated:
            notes.append("missing </function> at end of stream")
        schema = schemas.get(plan.name)
        if isinstance(schema, Mapping) and "input_schema" in schema:
            schema = schema["input_schema"]  # the whole tool was given
        return [(plan.name, _function_input(plan.name, body, schema, notes))], notes
    if truncated:
        if closers is None:
            raise Unreadable("cut off inside a string")
        value, more = loads_lenient(body, closers)
    else:
        value, more = loads_lenient(body)
    notes += more
    if plan.body == "args":
        if not isinstance(value, dict):
            raise Unreadable("the arguments are not an object")
        return [(plan.name, value)], notes
    if isinstance(value, dict):
        objects: list[Any] = [value]
    elif isinstance(value, list) and value and all(isinstance(o, dict) for o in value):
        if plan.single:
            if len(value) != 1:
                return None
            notes.append("a single call wrapped in a list")
        objects = value
    else:
        return None
    calls = []
    for obj in objects:
        call = _call(obj, tools, notes)
        if call is None:
            return None
        calls.append(call)
    return calls, notes


def _call(obj: dict[str, Any], tools: frozenset[str], notes: list[str]) -> Any:
    if not obj.keys() <= CALL_KEYS:
        return None
    source = obj
    if "name" not in obj and isinstance(obj.get("function"), dict):
        source = obj["function"]
        if not source.keys() <= _FUNCTION_KEYS:
            return None
    name = source.get("name")
    if not isinstance(name, str) or name not in tools:
        return None
    present = [key for key in _ARGUMENT_KEYS if key in source]
    if len(present) > 1:
        raise Unreadable(f"both {present[0]} and {present[1]}")
    arguments = source[present[0]] if present else {}
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            raise Unreadable("the arguments string is not JSON") from None
        notes.append("arguments given as a JSON string")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise Unreadable("the arguments are not an object")
    return name, arguments


def _function_input(name: str, body: str, schema: Any, notes: list[str]) -> dict[str, Any]:
    stripped = body.strip()
    if stripped.startswith("{"):
        value, more = loads_lenient(stripped)
        notes += more
        if not isinstance(value, dict):
            raise Unreadable("the arguments are not an object")
        return value
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    params: dict[str, Any] = {}
    pos = 0
    for match in _PARAMETER.finditer(body):
        if body[pos : match.start()].strip():
            raise Unreadable("text between the parameters")
        value = match.group(2)
        # Qwen3-Coder puts each value on lines of its own (vLLM's qwen3coder parser).
        value = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
        value = value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")
        if not match.group(0).endswith("</parameter>"):
            notes.append("a missing </parameter>")
        key = match.group(1).strip()
        prop = properties.get(key) if isinstance(properties, Mapping) else None
        params[key] = _typed(value, prop)
        pos = match.end()
    if body[pos:].strip():
        raise Unreadable("text that is not a parameter")
    return params


def _typed(value: str, schema: Any) -> Any:
    """A parameter's text as its schema's type; text stays text when the schema does not say
    otherwise or the text is not a value of that type (nothing is guessed)."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    kinds = kind if isinstance(kind, list) else [kind]
    if kind is None or "string" in kinds:
        return value
    try:
        parsed = orjson.loads(value.strip())
    except orjson.JSONDecodeError:
        return value
    found = _JSON_TYPES.get(type(parsed), "")
    if found in kinds or (found == "integer" and "number" in kinds):
        return parsed
    return value


_JSON_TYPES: Final[dict[type, str]] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
    dict: "object",
    list: "array",
}


def loads_lenient(text: str, closers: str = "") -> tuple[Any, list[str]]:
    """JSON, after the allowed repairs if needed: control characters in strings escaped,
    trailing commas dropped, and `closers` appended (the stream ended inside the value)."""
    if not closers:
        try:
            return orjson.loads(text), []
        except orjson.JSONDecodeError:
            pass
    notes: list[str] = []
    pieces: list[str] = []
    last = 0
    commas = 0
    for match in _STRING_LITERAL.finditer(text):
        between, count = _TRAILING_COMMA.subn(r"\1", text[last : match.start()])
        pieces.append(between)
        commas += count
        literal = match.group(0)
        escaped = literal.translate(_CONTROL)
        if escaped != literal and "control characters escaped" not in notes:
            notes.append("control characters escaped")
        pieces.append(escaped)
        last = match.end()
    between, count = _TRAILING_COMMA.subn(r"\1", text[last:])
    pieces.append(between)
    if commas + count:
        notes.append("trailing commas removed")
    fixed = "".join(pieces)
    if closers:
        fixed = fixed.rstrip().removesuffix(",") + closers
        notes.append("closing brackets added at end of stream")
    try:
        return orjson.loads(fixed), notes
    except orjson.JSONDecodeError:
        raise Unreadable("not valid JSON") from None
