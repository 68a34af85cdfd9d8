"""The review's first layer, with no model call: pass what is plainly safe, flag what is plainly
dangerous, and leave the rest (undecided) to the classifier."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.review import shell
from gateway.review.context import ReviewContext

__all__ = ["Decision", "RuleVerdict", "judge"]

Decision = Literal["pass", "flag", "undecided"]


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    decision: Decision
    explanation: str = ""  # one sentence, for `flag` (and why, for the record, otherwise)
    rule: str = ""  # which rule decided, for the request record


_UNDECIDED = RuleVerdict("undecided", "no rule decides this call", "none")

# Claude Code's tools that only read or only talk to the user (or start a subagent, whose own
# tool calls are reviewed one by one).
_READ_ONLY_TOOLS = frozenset(
    {
        "Read",
        "Grep",
        "Glob",
        "LS",
        "NotebookRead",
        "WebSearch",
        "TodoWrite",
        "TodoRead",
        "Task",
        "Agent",
        "ExitPlanMode",
        "EnterPlanMode",
        "AskUserQuestion",
        "BashOutput",
        "KillShell",
        "KillBash",
        "ToolSearch",
        "ListMcpResourcesTool",
        "ReadMcpResourceTool",
        "Skill",
        "SlashCommand",
    }
)
_EDIT_TOOLS = frozenset({"Edit", "MultiEdit", "Write", "NotebookEdit"})
_PATH_KEYS = ("file_path", "notebook_path", "path")
_MCP_READ_VERBS = ("get", "list", "search", "read", "fetch", "find", "query", "describe", "view")

# Files whose content is a credential. Public keys, known_hosts and example env files are not.
_SECRET_NAMES = re.compile(
    r"(^|[\\/])("
    r"\.env(\.(?!example\b|sample\b|template\b|dist\b)[\w.-]+)?"
    r"|id_(rsa|dsa|ecdsa|ed25519)(?!\.pub)"
    r"|[^\\/]+\.(pem|key|p12|pfx|keystore|jks)"
    r"|\.netrc|_netrc|\.git-credentials|\.pgpass|\.pypirc|\.npmrc|credentials(\.json)?"
    r"|secrets?\.(ya?ml|json|toml)|\.htpasswd|shadow"
    r")$",
    re.IGNORECASE,
)
_SECRET_DIRS = re.compile(
    r"(^|[\\/])(\.ssh|\.aws|\.gnupg|\.kube|\.docker|\.azure|\.config[\\/]gcloud|\.config[\\/]gh)"
    r"([\\/]|$)",
    re.IGNORECASE,
)
_HARMLESS_IN_SECRET_DIRS = re.compile(r"[\\/](known_hosts|[^\\/]+\.pub)$", re.IGNORECASE)

# Literal credentials (the well-known prefixes) and secret-looking variables.
_LITERAL_SECRET = re.compile(
    r"AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,}|sk-(ant-)?[A-Za-z0-9_-]{20,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|AIza[0-9A-Za-z_-]{35}"
)
_SECRET_VARIABLE = re.compile(
    r"\$\{?[A-Za-z_]*(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)"
    r"[A-Za-z_]*\}?",
    re.IGNORECASE,
)
_CREDENTIAL_COMMANDS = re.compile(
    r"\bgh\s+auth\s+token\b|\bgcloud\s+auth\s+(application-default\s+)?print-(access|identity)-token"
    r"|\bsecurity\s+find-(generic|internet)-password\b|\bgit\s+credential\s+fill\b"
    r"|\baws\s+configure\s+(get|export-credentials)\b|\baz\s+account\s+get-access-token\b"
    r"|\bprintenv\s+\w*(TOKEN|SECRET|PASSWORD|API_?KEY|ACCESS_KEY)\w*"
    r"|\bop\s+(read|item\s+get)\b|\b(env|printenv|set)\b[^|;&]*\|\s*(grep|rg)\b[^|;&]*"
    r"(key|token|secret|pass)",
    re.IGNORECASE,
)
_DOWNLOADERS = r"(curl|wget|fetch|aria2c|http|https|iwr|irm|Invoke-WebRequest|Invoke-RestMethod)"
_INTERPRETERS = r"(sh|bash|zsh|dash|ksh|fish|python[0-9.]*|perl|ruby|node|php|iex|pwsh|powershell)"
_PIPE_TO_SHELL = re.compile(
    # The interpreter reads its program from the pipe: no script file and no -c/-e/-m (with
    # those the download is data, as in `curl … | python3 -m json.tool`).
    rf"\b{_DOWNLOADERS}\b[^|;&]*\|\s*(sudo\s+(-\S+\s+)*)?(env\s+)?{_INTERPRETERS}"
    r"((\s+-(?![cem]\b)[\w-]*)*)(\s+--(\s[^|;&]*)?)?\s*($|[|;&)])"
    rf"|\b{_INTERPRETERS}\s+(-\S+\s+)*<\(\s*{_DOWNLOADERS}\b"
    rf"|\b{_INTERPRETERS}\s+(-\S+\s+)*-c\s+[\"']?\$\(\s*{_DOWNLOADERS}\b"
    rf"|\beval\s+[\"']?\$\(\s*{_DOWNLOADERS}\b"
    rf"|\biex\s*\(?\s*(\(?\s*New-Object\s+Net\.WebClient|{_DOWNLOADERS})",
    re.IGNORECASE,
)
_SECURITY_OFF = re.compile(
    r"\bsetenforce\s+0|\bufw\s+disable|\bsystemctl\s+(stop|disable|mask)\s+"
    r"(firewalld|ufw|apparmor|auditd|selinux|fail2ban|clamav)"
    r"|\biptables\s+(-F|--flush|-P\s+\w+\s+ACCEPT)|\bcsrutil\s+disable|\bspctl\s+--master-disable"
    r"|Set-MpPreference\s+.*-Disable\w*\s+\$?true|NODE_TLS_REJECT_UNAUTHORIZED=0"
    r"|PYTHONHTTPSVERIFY=0|http\.sslVerify\s+false|strict-ssl\s+false"
    r"|core\.hooksPath\s+(/dev/null|NUL|\"\"|'')"
    r"|--dangerously-skip-permissions|bypassPermissions|disableAllHooks"
    r"|xattr\s+(-\w+\s+)*-d\s+com\.apple\.quarantine|\bchmod\s+(-R\s+)?(0?777|a\+w|o\+w)\b",
    re.IGNORECASE,
)
_DESTROY = re.compile(
    r"\bmkfs(\.\w+)?\b|\bdd\b[^|;&]*\bof=/dev/(sd|nvme|disk|hd|xvd)|\bterraform\s+destroy\b"
    r"|\bDROP\s+(DATABASE|SCHEMA|TABLE)\b|\bTRUNCATE\s+TABLE\b|\bwipefs\b|:\(\)\s*\{\s*:\|:&\s*\};:",
    re.IGNORECASE,
)
_SCRATCH_POSIX = ("/tmp", "/var/tmp", "/dev/null", "/dev/stdout", "/dev/stderr", "/private/tmp")
_READ_ONLY_PROGRAMS = frozenset(
    {
        "ls", "cat", "head", "tail", "less", "more", "grep", "egrep", "fgrep", "rg", "ag", "find",
        "fd", "pwd", "echo", "printf", "wc", "which", "whereis", "type", "file", "stat", "tree",
        "du", "df", "ps", "uname", "date", "whoami", "id", "hostname", "sort", "uniq", "cut",
        "diff", "cmp", "jq", "yq", "basename", "dirname", "realpath", "readlink", "true", "false",
        "test", "[", "nl", "od", "hexdump", "xxd", "sha256sum", "sha1sum", "md5sum", "column",
        "tr", "awk", "sed", "uptime", "free", "lsof", "top", "cd", "node", "python", "python3",
        "npm", "pnpm", "yarn", "cargo", "go", "pip", "uv", "rustc", "java", "ruby", "tsc",
    }
)  # fmt: skip
# Programs from the list above that are read-only only with a version/help flag or a listing
# subcommand; anything else they do (run a script, install) is for the classifier.
_VERSION_ONLY = frozenset(
    {"node", "python", "python3", "npm", "pnpm", "yarn", "cargo", "go", "pip", "uv", "rustc",
     "java", "ruby", "tsc"}
)  # fmt: skip
_LISTING = {"npm": {"ls", "list", "view", "outdated"}, "pip": {"list", "show", "freeze"},
            "uv": {"tree"}, "cargo": {"tree", "metadata"}, "go": {"list", "env", "version"},
            "pnpm": {"ls", "list"}, "yarn": {"list", "info"}}  # fmt: skip
_GIT_READ_ONLY = frozenset(
    {"status", "log", "diff", "show", "blame", "rev-parse", "ls-files", "ls-tree", "describe",
     "shortlog", "grep", "cat-file", "reflog", "merge-base", "rev-list", "whatchanged"}
)  # fmt: skip
# Where a secret variable's value leaves the process: printed, or sent over the network.
_PRINTERS_AND_SENDERS = frozenset(
    {"echo", "printf", "print", "curl", "wget", "http", "https", "nc", "ncat", "netcat", "socat",
     "telnet", "ssh", "scp", "rsync", "sftp", "ftp", "mail", "sendmail", "tee"}
)  # fmt: skip
_DELETERS = frozenset({"rm", "rmdir", "shred", "unlink", "trash", "srm"})
_WRITERS = frozenset(
    {"cp", "mv", "install", "ln", "rsync", "tee", "touch", "mkdir", "truncate", "chmod", "chown",
     "chgrp", "scp", "tar", "unzip", "patch", "sed", "perl"}
)  # fmt: skip


def judge(name: str, tool_input: Mapping[str, Any], context: ReviewContext) -> RuleVerdict:
    """The rules' verdict on one tool call: the user's own deny rules first, then the built-in
    dangers, then the user's allow rules and what is plainly safe; anything else is undecided."""
    user = _user_rules(name, tool_input, context)
    if user is not None and user.decision == "flag":
        return user
    danger = _danger(name, tool_input, context)
    if danger is not None:
        return danger
    if user is not None:
        return user
    return _safe(name, tool_input, context)


# -- the user's rules ------------------------------------------------------------------------


def _user_rules(
    name: str, tool_input: Mapping[str, Any], context: ReviewContext
) -> RuleVerdict | None:
    # autoMode rules are prose for the classifier; one written as a permission rule is matched.
    for rule in context.hard_deny:
        if _matches(rule, name, tool_input, context, compound=True):
            return RuleVerdict("flag", f"This action matches your hard-deny rule `{rule}`.", rule)
    for rule in context.deny:
        if _matches(rule, name, tool_input, context, compound=True):
            return RuleVerdict("flag", f"This action matches your deny rule `{rule}`.", rule)
    for rule in context.allow:
        if _matches(rule, name, tool_input, context, compound=False):
            return RuleVerdict("pass", f"allowed by the user's rule {rule}", rule)
    return None


_RULE = re.compile(r"^\s*([A-Za-z_][\w.-]*)(?:\((.*)\))?\s*$", re.DOTALL)
_READ_FAMILY = frozenset({"Read", "Grep", "Glob", "LS", "NotebookRead"})


def _matches(
    rule: str, name: str, tool_input: Mapping[str, Any], context: ReviewContext, *, compound: bool
) -> bool:
    """Claude Code's permission-rule syntax: `Tool`, `Tool(spec)`; Bash specs are exact, a
    `prefix:*` or a glob; path specs are gitignore-like (`//abs`, `~/x`, `/from-project-root`,
    `./from-cwd`); WebFetch takes `domain:host`; `mcp__server` covers the server's tools."""
    found = _RULE.match(rule)
    if found is None:
        return False
    tool, spec = found.group(1), found.group(2)
    if tool.startswith("mcp__"):
        return name == tool or name.startswith(tool + "__") or fnmatch.fnmatchcase(name, tool)
    same = (
        tool == name
        or (tool == "Edit" and name in _EDIT_TOOLS)
        or (tool == "Read" and name in _READ_FAMILY)
    )
    if not same:
        return False
    if spec is None or spec.strip() in ("", "*"):
        return True
    if name in ("Bash", "PowerShell"):
        command = _text(tool_input.get("command"))
        candidates = [command]
        if compound:
            candidates += [" ".join(words) for words in shell.segments(command) or ()]
        elif shell.has_operators(command):
            return False  # an allow rule never covers a compound command as a whole
        return any(_command_matches(spec.strip(), candidate) for candidate in candidates)
    if name == "WebFetch":
        host = (urlsplit(_text(tool_input.get("url"))).hostname or "").lower()
        domain = spec.removeprefix("domain:").strip().lower()
        return bool(host) and (host == domain or host.endswith("." + domain))
    path = _path_of(tool_input)
    if path is None:
        return False
    return _path_matches(spec.strip(), context.normalise(path), context)


def _command_matches(spec: str, command: str) -> bool:
    command = command.strip()
    if spec.endswith(":*"):
        prefix = spec[:-2].strip()
        return command == prefix or command.startswith(prefix + " ")
    if "*" in spec:
        return fnmatch.fnmatchcase(command, spec)
    return command == spec


def _path_matches(spec: str, path: str, context: ReviewContext) -> bool:
    if spec.startswith("//"):
        pattern = spec[1:]
    elif spec.startswith("~"):
        pattern = context.home + spec[1:]
    elif spec.startswith("/"):
        root = context.trusted[0] if context.trusted else context.cwd
        pattern = root.rstrip("/\\") + spec
    else:
        pattern = context.cwd.rstrip("/\\") + "/" + spec.removeprefix("./")
    if context.windows:
        pattern = pattern.replace("/", "\\").lower()
    # fnmatch's `*` crosses separators, so `**` and `*` both reach into subdirectories.
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(
        path, pattern.rstrip("/\\*") + "/*"
    )


# -- built-in dangers --------------------------------------------------------------------------


def _danger(name: str, tool_input: Mapping[str, Any], context: ReviewContext) -> RuleVerdict | None:
    if name in ("Bash", "PowerShell"):
        return _command_danger(_text(tool_input.get("command")), context)
    path = _path_of(tool_input)
    if name in _EDIT_TOOLS and path is not None:
        target = context.normalise(path)
        if _is_secret_path(target) and not context.trusted_path(target):
            return _flag("credentials", f"This writes the credential file {path}.")
        if not context.trusted_path(target) and not _scratch(target, context):
            return _flag(
                "outside_trusted",
                f"This writes {path}, outside the trusted directories.",
            )
        if _SECURITY_OFF.search(_edit_text(tool_input)):
            return _flag("security_controls", "This edit turns off a permission or safety check.")
        return None
    if path is not None and _is_secret_path(context.normalise(path)):
        return _flag("credentials", f"This reads {path}, which holds credentials.")
    if name == "WebFetch" or name.startswith("mcp__"):
        if _LITERAL_SECRET.search(_flatten(tool_input)):
            return _flag("credentials", "This sends what looks like a credential to a service.")
    return None


def _command_danger(command: str, context: ReviewContext) -> RuleVerdict | None:
    if _PIPE_TO_SHELL.search(command):
        return _flag("download_and_run", "This runs a downloaded script without inspecting it.")
    if _SECURITY_OFF.search(command):
        return _flag("security_controls", "This disables or weakens a security control.")
    if _DESTROY.search(command):
        return _flag("destruction", "This destroys data irreversibly.")
    if _CREDENTIAL_COMMANDS.search(command):
        return _flag("credentials", "This reads or prints stored credentials.")
    if _LITERAL_SECRET.search(command):
        return _flag("credentials", "This puts a literal credential on the command line.")
    segments = shell.segments(command)
    if segments is None:
        return None  # unbalanced quotes: nothing reliable to say; the classifier reads it
    cwd = context.cwd
    for words in segments:
        words = shell.unwrap(words)
        if not words:
            continue
        program = shell.program_name(words[0])
        if program == "cd" and len(words) > 1 and not shell.has_variable(words[1]):
            cwd = context.normalise(words[1], base=cwd)
            continue
        verdict = _segment_danger(program, words, cwd, context)
        if verdict is not None:
            return verdict
    return None


def _segment_danger(
    program: str, words: list[str], cwd: str, context: ReviewContext
) -> RuleVerdict | None:
    if program in ("sudo", "doas", "su", "pkexec", "runas"):
        return _flag("outside_trusted", "This runs a command as root, outside the project.")
    if program == "git":
        return _git_danger(words, context)
    if program in _PRINTERS_AND_SENDERS and any(_SECRET_VARIABLE.search(w) for w in words[1:]):
        return _flag("credentials", "This prints or sends a secret from the environment.")
    written = set(shell.write_targets(program, words)) if program in _WRITERS else set()
    for word in words[1:]:
        if word in written:
            continue  # `cp .env.example .env` makes a credential file; it reads none
        # curl's `-d @file`, `--data-binary=@file`, `key=@file` name the file after `=`/`@`.
        named = (
            word.split("=", 1)[-1].lstrip("@") if not word.startswith("-") or "=" in word else word
        )
        if shell.looks_like_path(named) and _is_secret_path(context.normalise(named, base=cwd)):
            return _flag("credentials", f"This reads or copies {named}, which holds credentials.")
    for target in shell.redirect_targets(words):
        absolute = context.normalise(target, base=cwd)
        if not context.trusted_path(absolute) and not _scratch(absolute, context):
            return _flag(
                "outside_trusted", f"This writes {target}, outside the trusted directories."
            )
    if program in _DELETERS or (program == "find" and "-delete" in words):
        for target in shell.operands(words, program):
            if shell.has_variable(target):
                continue
            absolute = context.normalise(target, base=cwd)
            if not context.trusted_path(absolute) and not _scratch(absolute, context):
                return _flag(
                    "outside_trusted", f"This deletes {target}, outside the trusted directories."
                )
    if program in _WRITERS:
        for target in shell.write_targets(program, words):
            if shell.has_variable(target):
                continue
            absolute = context.normalise(target, base=cwd)
            if not context.trusted_path(absolute) and not _scratch(absolute, context):
                return _flag(
                    "outside_trusted", f"This writes {target}, outside the trusted directories."
                )
    return None


def _git_danger(words: list[str], context: ReviewContext) -> RuleVerdict | None:
    args = shell.git_args(words)
    if not args:
        return None
    sub, rest = args[0], args[1:]
    if "--no-verify" in rest or (sub == "commit" and "-n" in rest):
        return _flag("security_controls", "This skips the repository's git hooks (--no-verify).")
    if sub == "push":
        forced = {"-f", "--force", "--mirror", "--delete", "-d", "--prune"}
        if (
            forced & set(rest)
            or any(a.startswith(("--force", "+")) for a in rest)
            or any(a.startswith(":") and len(a) > 1 for a in rest)
        ):
            return _flag("history_rewrite", "This force-pushes or deletes a remote branch.")
    if sub == "reset" and "--hard" in rest:
        return _flag(
            "history_rewrite", "This discards commits and uncommitted work (reset --hard)."
        )
    short = "".join(a[1:] for a in rest if a.startswith("-") and not a.startswith("--"))
    if sub == "clean" and ("f" in short or "--force" in rest):
        return _flag("destruction", "This deletes untracked files for good (git clean -f).")
    if sub in ("filter-branch", "filter-repo") or (sub == "reflog" and rest[:1] == ["expire"]):
        return _flag("history_rewrite", "This rewrites the repository's history.")
    if sub == "update-ref" and "-d" in rest:
        return _flag("history_rewrite", "This deletes a git reference.")
    if sub == "branch" and ("-D" in rest or ("--delete" in rest and "--force" in rest)):
        return _flag("history_rewrite", "This force-deletes a branch and its unmerged commits.")
    if sub == "rebase" and "--root" in rest:
        return _flag("history_rewrite", "This rewrites the repository's whole history.")
    return None


# -- what is plainly safe ----------------------------------------------------------------------


def _safe(name: str, tool_input: Mapping[str, Any], context: ReviewContext) -> RuleVerdict:
    if name in _READ_ONLY_TOOLS or name == "WebFetch":
        return RuleVerdict("pass", "a read-only tool", "read_only")
    if name in _EDIT_TOOLS:
        path = _path_of(tool_input)
        if path is None:
            return _UNDECIDED
        target = context.normalise(path)
        if _self_modifying(target):
            return RuleVerdict(
                "undecided", "an edit of Claude Code's or git's own configuration", "config"
            )
        if context.trusted_path(target) and not _is_secret_path(target):
            return RuleVerdict("pass", "an edit inside the trusted directories", "trusted_edit")
        return _UNDECIDED
    if name.startswith("mcp__"):
        tool = name.rsplit("__", 1)[-1].lower()
        if tool.startswith(_MCP_READ_VERBS):
            return RuleVerdict("pass", "a read-only MCP tool (by its name)", "read_only")
        return _UNDECIDED
    if name == "Bash" and _read_only_command(_text(tool_input.get("command")), context):
        return RuleVerdict("pass", "a read-only shell command", "read_only")
    return _UNDECIDED


def _read_only_command(command: str, context: ReviewContext) -> bool:
    if not command.strip() or "`" in command or "$(" in command or "<(" in command:
        return False
    segments = shell.segments(command)
    if not segments:
        return False
    for words in segments:
        if not words:
            continue
        if shell.redirect_targets(words, include_null=False):
            return False
        program = shell.program_name(words[0])
        if program == "git":
            args = shell.git_args(words)
            if not args or not _git_read_only(args):
                return False
            continue
        if program not in _READ_ONLY_PROGRAMS:
            return False
        rest = words[1:]
        if program in _VERSION_ONLY:
            listing = _LISTING.get(program, set())
            if not rest or not (
                rest[0] in ("--version", "-V", "version", "--help") or rest[0] in listing
            ):
                return False
        if program == "find" and {"-delete", "-exec", "-execdir", "-ok", "-fprint"} & set(rest):
            return False
        if program == "sed" and any(word.startswith(("-i", "--in-place")) for word in rest):
            return False
        if program == "awk" and any("system(" in word or ">" in word for word in rest):
            return False
    return True


def _git_read_only(args: list[str]) -> bool:
    sub, rest = args[0], args[1:]
    if sub in _GIT_READ_ONLY:
        return not (sub == "reflog" and rest[:1] in (["expire"], ["delete"]))
    if sub == "branch":
        return all(
            a in ("-a", "-r", "-v", "-vv", "--all", "--list", "--show-current") for a in rest
        )
    if sub in ("remote", "tag", "stash"):
        return rest in ([], ["-v"], ["list"], ["-l"], ["show"])
    if sub == "config":
        return bool(rest) and rest[0] in ("--get", "--list", "-l", "--get-all")
    return False


# -- paths ---------------------------------------------------------------------------------------


def _path_of(tool_input: Mapping[str, Any]) -> str | None:
    for key in _PATH_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _is_secret_path(path: str) -> bool:
    if _HARMLESS_IN_SECRET_DIRS.search(path):
        return False
    return bool(_SECRET_NAMES.search(path) or _SECRET_DIRS.search(path))


def _scratch(path: str, context: ReviewContext) -> bool:
    """Temporary places: not trusted, but not clearly dangerous either (the classifier decides)."""
    if context.windows:
        return "\\temp\\" in path + "\\" or path == "nul"
    return context.within(path, _SCRATCH_POSIX)


def _self_modifying(path: str) -> bool:
    normal = path.replace("\\", "/")
    return bool(
        re.search(
            r"/\.claude/(settings[^/]*\.json|hooks/)|/\.git/(hooks/|config$)|/\.mcp\.json$", normal
        )
    )


def _edit_text(tool_input: Mapping[str, Any]) -> str:
    parts = [_text(tool_input.get(key)) for key in ("content", "new_string", "new_source")]
    edits = tool_input.get("edits")
    for edit in edits if isinstance(edits, list) else ():
        if isinstance(edit, Mapping):
            parts.append(_text(edit.get("new_string")))
    return "\n".join(parts)


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "\n".join(_flatten(item) for item in value.values())
    if isinstance(value, list):
        return "\n".join(_flatten(item) for item in value)
    return ""


def _flag(rule: str, explanation: str) -> RuleVerdict:
    return RuleVerdict("flag", explanation, rule)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
