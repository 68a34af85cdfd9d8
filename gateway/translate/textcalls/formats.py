"""The openings and closings of the formats models write tool calls in as text: Hermes/Qwen
`<tool_call>`, Qwen3-Coder and Functionary `<function=…>`, Mistral `[TOOL_CALLS]`, Llama 3 bare
JSON or `<|python_tag|>`, any of them in a ``` fence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["FAIL", "MAYBE", "Opening", "Verdict", "classify", "closing"]

Verdict = Literal["maybe", "fail"]
MAYBE: Final[Verdict] = "maybe"
FAIL: Final[Verdict] = "fail"

_FENCE_LANGS: Final = frozenset({"", "json", "tool_call", "xml"})

_FENCE_OPEN = re.compile(r"```([A-Za-z_]*)[ \t]*\r?\n")
_FENCE_PARTIAL = re.compile(r"`{1,3}|```[A-Za-z_]{0,16}[ \t]*\r?")
_FUNCTION_NAME = re.compile(r"([^>\n]{1,80})>")
_MISTRAL_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_MISTRAL_ID = re.compile(r"[A-Za-z0-9_\-]*")
_BLANK = re.compile(r"\s*")
_HSPACE = re.compile(r"[ \t]*")


@dataclass(slots=True)
class Opening:
    """What a candidate's opening said: the format, where the body starts and what it is."""

    label: str
    body: Literal["call", "args", "function"]  # call objects, an arguments object, <function=…>
    body_start: int
    name: str = ""  # known from the opening (<function=NAME>, [TOOL_CALLS]NAME)
    tool_call: bool = False  # inside <tool_call>…</tool_call>
    fenced: bool = False  # inside a ``` fence
    single: bool = True  # a list of calls is only a repair of one call

    @property
    def format(self) -> str:
        return f"{self.label} in a ``` fence" if self.fenced else self.label


def classify(head: str, tools: frozenset[str], final: bool) -> Opening | Verdict:
    """Read a candidate's opening; MAYBE until it is complete (never once `final`)."""
    verdict = _classify(head, tools)
    return FAIL if final and verdict == MAYBE else verdict


def _classify(head: str, tools: frozenset[str]) -> Opening | Verdict:
    i, fenced = 0, False
    if head[0] == "`":
        fence = _FENCE_OPEN.match(head)
        if fence is None:
            return MAYBE if _FENCE_PARTIAL.fullmatch(head) else FAIL
        if fence.group(1).lower() not in _FENCE_LANGS:
            return FAIL
        fenced, i = True, _skip(head, fence.end())
        if i == len(head):
            return MAYBE
    elif head[0] == "●":
        # Models imitating Claude Code's transcript put its bullet before the call
        # (free-claude-code's heuristic parser reads `● <function=…>`).
        i = _HSPACE.match(head, 1).end()  # type: ignore[union-attr]
        status = _lit(head, i, "<function=")
        if status <= 0:
            return MAYBE if status == 0 else FAIL
        return _function(head, i, tools, fenced=False, tool_call=False)
    tool_call = False
    if head.startswith("<tool_call>", i):
        tool_call, i = True, _skip(head, i + len("<tool_call>"))
        if i == len(head):
            return MAYBE
    elif _partial(head, i, "<tool_call>"):
        return MAYBE
    if head.startswith("<function=", i):
        return _function(head, i, tools, fenced=fenced, tool_call=tool_call)
    if _partial(head, i, "<function="):
        return MAYBE
    if not tool_call:
        if head.startswith("[TOOL_CALLS]", i):
            return _mistral(head, i + len("[TOOL_CALLS]"), tools, fenced)
        if head.startswith("<|python_tag|>", i):
            i = _skip(head, i + len("<|python_tag|>"))
            if i == len(head):
                return MAYBE
            if head[i] != "{":
                return FAIL
            return Opening("<|python_tag|>", "call", i, fenced=fenced)
        if _partial(head, i, "[TOOL_CALLS]") or _partial(head, i, "<|python_tag|>"):
            return MAYBE
    if head[i] in "{[":
        label = "<tool_call>" if tool_call else "bare JSON"
        return Opening(label, "call", i, tool_call=tool_call, fenced=fenced)
    return FAIL


def _function(
    head: str, i: int, tools: frozenset[str], *, fenced: bool, tool_call: bool
) -> Opening | Verdict:
    """`<function=NAME>` then parameters, a JSON object or the end (Qwen3-Coder, Functionary)."""
    start = i + len("<function=")
    match = _FUNCTION_NAME.match(head, start)
    if match is None:
        rest = head[start:]
        if len(rest) < 80 and ">" not in rest and "\n" not in rest and _named(rest, tools):
            return MAYBE
        return FAIL
    name = match.group(1).strip()
    if name not in tools:
        return FAIL
    j = _skip(head, match.end())
    if j == len(head):
        return MAYBE
    ends = (
        ("<parameter=", "</function>", "</tool_call>")
        if tool_call
        else ("<parameter=", "</function>")
    )
    if head[j] == "{" or any(head.startswith(end, j) for end in ends):
        label = "<function=…>"
        return Opening(label, "function", match.end(), name, tool_call=tool_call, fenced=fenced)
    return MAYBE if any(_partial(head, j, end) for end in ends) else FAIL


def _mistral(head: str, i: int, tools: frozenset[str], fenced: bool) -> Opening | Verdict:
    """`[TOOL_CALLS][{…}]` (before v11), `[TOOL_CALLS]NAME{…}` (v11), `NAME[ARGS]{…}` (v13)."""
    i = _skip(head, i)
    if i == len(head):
        return MAYBE
    if head[i] in "[{":
        return Opening("[TOOL_CALLS]", "call", i, fenced=fenced, single=False)
    match = _MISTRAL_NAME.match(head, i)
    if match is None:
        return FAIL
    j = match.end()
    if j == len(head):
        return MAYBE if j - i <= 80 and _named(match.group(0), tools) else FAIL
    name = match.group(0)
    if name not in tools:
        return FAIL
    if head.startswith("[CALL_ID]", j):
        j = _MISTRAL_ID.match(head, j + len("[CALL_ID]")).end()  # type: ignore[union-attr]
        status = _lit(head, j, "[ARGS]")
        if status <= 0:
            return MAYBE if status == 0 and len(head) - i < 160 else FAIL
        j += len("[ARGS]")
    elif head.startswith("[ARGS]", j):
        j += len("[ARGS]")
    elif _partial(head, j, "[CALL_ID]") or _partial(head, j, "[ARGS]"):
        return MAYBE
    j = _skip(head, j)
    if j == len(head):
        return MAYBE
    return Opening("[TOOL_CALLS]", "args", j, name, fenced=fenced) if head[j] == "{" else FAIL


def closing(tail: str, plan: Opening, final: bool) -> tuple[int, list[str]] | Verdict:
    """After the body: how much of `tail` the call's closing tags take, with notes."""
    notes: list[str] = []
    j = 0
    if plan.tool_call or plan.body == "function":
        k = _skip(tail, 0)
        status = _lit(tail, k, "</tool_call>")
        if status == 1:
            j = k + len("</tool_call>")
        elif status == 0 and not final:
            return MAYBE
        elif plan.tool_call:
            notes.append("missing </tool_call>")
    if plan.fenced:
        k = _skip(tail, j)
        status = _lit(tail, k, "```")
        if status == 1:
            j = k + 3
        elif status == 0 and not final:
            return MAYBE
        elif status == 0:
            notes.append("missing closing ``` at end of stream")
        else:
            return FAIL
    return j, notes


def _named(start: str, tools: frozenset[str]) -> bool:
    """Whether some declared tool's name starts so (the name is still coming)."""
    start = start.lstrip()
    return any(tool.startswith(start) for tool in tools)


def _skip(text: str, i: int) -> int:
    return _BLANK.match(text, i).end()  # type: ignore[union-attr]


def _lit(text: str, i: int, literal: str) -> int:
    """1: text[i:] starts with `literal`; 0: it is a proper prefix (more may match); -1: no."""
    rest = text[i : i + len(literal)]
    if rest == literal:
        return 1
    return 0 if literal.startswith(rest) else -1


def _partial(text: str, i: int, literal: str) -> bool:
    rest = text[i:]
    return len(rest) < len(literal) and literal.startswith(rest)
