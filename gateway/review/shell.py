"""Shell command words, as far as a reviewer needs them: the simple commands of a command line,
the program each runs, and the paths it writes or deletes."""

from __future__ import annotations

import re
import shlex

__all__ = [
    "git_args",
    "has_operators",
    "has_variable",
    "looks_like_path",
    "operands",
    "program_name",
    "redirect_targets",
    "segments",
    "unwrap",
    "write_targets",
]

_OPERATORS = frozenset("();<>|&")
_WRAPPERS = frozenset({"env", "time", "nohup", "nice", "command", "builtin", "exec", "xargs"})


def segments(command: str) -> list[list[str]] | None:
    """The command's simple commands as word lists (operators dropped, `2>&1`'s fd kept off);
    None when the quoting does not balance."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    segments: list[list[str]] = [[]]
    for n, token in enumerate(tokens):
        if token and set(token) <= _OPERATORS:
            if token in (">", ">>", ">&", "<", "&>", ">|", "&>>"):
                segments[-1].append(token)
            else:
                segments.append([])
            continue
        if token.isdigit() and n + 1 < len(tokens) and tokens[n + 1].startswith((">", "<")):
            continue
        segments[-1].append(token)
    return [words for words in segments if words]


def has_operators(command: str) -> bool:
    found = segments(command)
    return found is None or len(found) > 1 or "$(" in command or "`" in command


def unwrap(words: list[str]) -> list[str]:
    """Drop `VAR=value` prefixes and wrappers (env, time, nohup, xargs…) before the program."""
    out = list(words)
    while out:
        head = out[0]
        if "=" in head and re.match(r"^[A-Za-z_]\w*=", head):
            out.pop(0)
        elif program_name(head) in _WRAPPERS:
            out.pop(0)
            while out and out[0].startswith("-"):
                out.pop(0)
        else:
            break
    return out


def program_name(word: str) -> str:
    return word.replace("\\", "/").rsplit("/", 1)[-1].lower().removesuffix(".exe")


def git_args(words: list[str]) -> list[str]:
    """git's arguments after its global options (-C dir, -c key=value, --git-dir=…)."""
    args = words[1:]
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") and args:
            args.pop(0)
    return args


def redirect_targets(words: list[str], *, include_null: bool = True) -> list[str]:
    targets = []
    for n, word in enumerate(words[:-1]):
        if word in (">", ">>", ">|", "&>", "&>>") or (word == ">&" and not words[n + 1].isdigit()):
            target = words[n + 1]
            if include_null or target not in ("/dev/null", "/dev/stdout", "/dev/stderr", "NUL"):
                targets.append(target)
    return targets


def operands(words: list[str], program: str) -> list[str]:
    if program == "find":
        return [w for w in words[1:] if not w.startswith("-")][:1]
    args = [w for w in words[1:] if w not in (">", ">>", ">&", "<")]
    operands: list[str] = []
    after_dashes = False
    for word in args:
        if word == "--" and not after_dashes:
            after_dashes = True
        elif after_dashes or not word.startswith("-"):
            operands.append(word)
    return operands


def write_targets(program: str, words: list[str]) -> list[str]:
    found = operands(words, program)
    if program in ("cp", "mv", "install", "ln", "rsync", "scp"):
        return found[-1:] if len(found) > 1 else []
    if program in ("chmod", "chown", "chgrp"):
        return found[1:]
    if program == "sed":
        return found[1:] if any(w.startswith(("-i", "--in-place")) for w in words) else []
    if program == "perl":
        return found[1:] if any(w.startswith(("-i", "-pi")) for w in words) else []
    if program == "tar":
        flags = "".join(w for w in words[1:2] if not w.startswith("/"))
        if "x" in flags:
            for n, word in enumerate(words):
                if word in ("-C", "--directory") and n + 1 < len(words):
                    return [words[n + 1]]
        return []
    if program in ("unzip", "patch"):
        for n, word in enumerate(words[:-1]):
            if program == "unzip" and word == "-d":
                return [words[n + 1]]
        return []
    return found


def has_variable(word: str) -> bool:
    return "$" in word or "%" in word


def looks_like_path(word: str) -> bool:
    return not word.startswith("-") and ("/" in word or "\\" in word or word.startswith((".", "~")))
