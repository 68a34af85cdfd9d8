"""The Requests page's search: words that must all match, each anywhere or in one column
(`status:400`, `status:4xx`, `model:sonnet`, `routed:lmstudio`, `session:…`, `class:…`,
`error:…`, `stop:…`, `id:…`). A number matches a status or a whole word, never part of an id."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.request_log import Row

__all__ = ["FIELDS", "Query", "parse_query"]

_WORDS = re.compile(r"[a-z0-9]+")


def _status(row: Row) -> str:
    return str(row.status) if row.status else ""


# The column a prefix targets, and what of a row it reads.
FIELDS: dict[str, Callable[[Row], str]] = {
    "status": _status,
    "model": lambda r: r.asked,
    "asked": lambda r: r.asked,
    "routed": lambda r: r.routed,
    "backend": lambda r: r.routed.split("/", 1)[0],
    "session": lambda r: r.session,
    "class": lambda r: r.klass,
    "error": lambda r: r.error or "",
    "stop": lambda r: r.stop_reason or "",
    "id": lambda r: r.request_id,
}
_ANYWHERE = ("id", "session", "class", "asked", "routed", "error", "stop")


@dataclass(frozen=True, slots=True)
class Term:
    field: str | None  # None: any column
    text: str

    def matches(self, row: Row) -> bool:
        if self.field == "status":
            return _status_matches(row.status, self.text)
        if self.field is not None:
            return self.text in FIELDS[self.field](row).lower()
        if self.text.isdigit():
            # "400" is a status, or a whole word (a port, a size): not three digits of an id.
            if str(row.status) == self.text:
                return True
            return any(self.text in _WORDS.findall(FIELDS[f](row).lower()) for f in _ANYWHERE)
        return any(self.text in FIELDS[f](row).lower() for f in _ANYWHERE) or (
            self.text in _status(row)
        )


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[Term, ...]

    def matches(self, row: Row) -> bool:
        return all(term.matches(row) for term in self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)


def parse_query(text: str) -> Query:
    """`status:400 sonnet` → two terms, both must match; an unknown prefix is plain text."""
    terms = []
    for word in text.lower().split():
        field, sep, value = word.partition(":")
        if sep and field in FIELDS and value:
            terms.append(Term(field, value))
        else:
            terms.append(Term(None, word))
    return Query(tuple(terms))


def _status_matches(status: int, wanted: str) -> bool:
    """`400` exactly, `4xx` a class, `>=400` / `<500` a bound."""
    text = str(status) if status else ""
    if re.fullmatch(r"[1-5]xx", wanted):
        return text[:1] == wanted[0]
    bound = re.fullmatch(r"(>=|<=|>|<)(\d{3})", wanted)
    if bound and status:
        limit = int(bound.group(2))
        return {
            ">=": status >= limit,
            "<=": status <= limit,
            ">": status > limit,
            "<": status < limit,
        }[bound.group(1)]
    return text == wanted
