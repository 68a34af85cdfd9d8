"""`<think>` spans split out of content, whatever the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.translate.thinking import ThinkTagSplitter

Pieces = list[tuple[str, str]]


def split(parts: list[str]) -> Pieces:
    splitter = ThinkTagSplitter()
    out: Pieces = []
    for part in parts:
        out += splitter.feed(part)
    return merge(out + splitter.flush())


def merge(pieces: Pieces) -> Pieces:
    merged: Pieces = []
    for kind, text in pieces:
        assert text, f"an empty {kind} piece"
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Hello", [("text", "Hello")]),
        ("\n\nHello", [("text", "\n\nHello")]),
        ("<think>plan</think>answer", [("thinking", "plan"), ("text", "answer")]),
        ("<think>\nplan\n</think>\n\nanswer", [("thinking", "plan\n"), ("text", "answer")]),
        ("  \n<think>plan</think>", [("thinking", "plan")]),
        (
            "<think>a</think><think>b</think>c",
            [("thinking", "a"), ("thinking", "b"), ("text", "c")],
        ),
        ("<think>never closed", [("thinking", "never closed")]),
        ("<think>half </thi", [("thinking", "half </thi")]),
        ("<thi", [("text", "<thi")]),
        ("<thinking>x", [("text", "<thinking>x")]),
        ("Use a <think> tag.", [("text", "Use a <think> tag.")]),
        ("answer</think>", [("text", "answer</think>")]),
        ("<think></think>answer", [("text", "answer")]),
        ("<think>a < b</think>ok", [("thinking", "a < b"), ("text", "ok")]),
        ("   ", [("text", "   ")]),
        ("<think>x</think>  ", [("thinking", "x")]),
        ("", []),
    ],
)
def test_splitter(content: str, expected: Pieces) -> None:
    assert split([content]) == merge(expected)
    assert split(list(content)) == merge(expected)


def reference(content: str) -> Pieces:
    """The same rules, written over the whole string at once."""
    out: Pieces = []
    leading = True
    while True:
        body = content.lstrip()
        if not body.startswith("<think>"):
            text = content if leading else body
            if text:
                out.append(("text", text))
            return merge(out)
        leading = False
        inner = body[len("<think>") :].lstrip()
        end = inner.find("</think>")
        if end < 0:
            if inner:
                out.append(("thinking", inner))
            return merge(out)
        if end:
            out.append(("thinking", inner[:end]))
        content = inner[end + len("</think>") :]


fragments = st.lists(
    st.sampled_from(
        [
            "<think>",
            "</think>",
            "<",
            "</",
            "<th",
            "ink>",
            ">",
            " ",
            "\n",
            "a",
            "b c",
            "é",
            "<thi",
            "nk>",
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(content=fragments, data=st.data())
def test_any_split_point(content: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(content)), max_size=6)))
    parts = [content[a:b] for a, b in zip([0, *cuts], [*cuts, len(content)], strict=True)]
    assert split(parts) == split([content]) == reference(content)
