"""The `lmgate` command line: serve, env, token, backends, doctor, keys, clients, usage, claude,
claude-desktop and self-test.

Qt-free, and quick to start: the server, the keyring and the tokenizer are imported by the
commands that need them. Precedence everywhere: flags > config file > defaults.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tomllib
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gateway.config import (
    EFFORTS,
    ROUTE_NAMES,
    ConfigLoad,
    GatewayConfig,
    default_config_path,
    find_backup,
    recovery_message,
)
from gateway.envline import SHELLS, claude_env, default_shell, render
from gateway.loopback import is_loopback, unguarded
from gateway.route_commands import (
    ROLES,
    describe_routes,
    parse_route_flag,
    with_route,
    without_route,
)

if TYPE_CHECKING:
    from gateway.selftest import Check

__all__ = ["build_parser", "main"]

PROG = "lmgate"
RESERVED = (
    "backends",
    "doctor",
    "keys",
    "route",
    "clients",
    "usage",
    "claude",
    "claude-desktop",
    "self-test",
)
_TOP_LEVEL_FLAGS = {"-h", "--help", "--version"}


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def build_parser(*, gui_checks: Callable[[], list[Check]] | None = None) -> argparse.ArgumentParser:
    """Every subcommand; `gui_checks` are the desktop self-test checks (app/ passes them)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="LM Gate: a local gateway that lets Claude Code run on models you choose.",
        epilog="Without a command, `lmgate` opens the desktop app (or serves, with no display).",
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gateway in the foreground until Ctrl-C",
        description="Run the gateway headless. Flags override the config file, which overrides "
        "the defaults.",
    )
    _address_flags(serve)
    serve.add_argument(
        "--backend",
        metavar="URL",
        action="append",
        help="use this OpenAI-compatible server instead of the configured and discovered "
        "backends (a base URL, with or without /v1, e.g. http://127.0.0.1:1234/v1); repeated, "
        "the later ones are the fallbacks of the first, in order",
    )
    serve.add_argument(
        "--route",
        metavar="NAME=TARGET[,TARGET…]",
        action="append",
        help="a route and its targets, the later ones fallbacks: long_context, images, "
        "thinking, subagent, background; or big/small/opus for that role's fallbacks "
        "(see `lmgate route`)",
    )
    serve.add_argument(
        "--long-context-threshold",
        type=int,
        metavar="TOKENS",
        help="prompts longer than this take the long_context route (default 60000)",
    )
    serve.add_argument(
        "--thinking-effort",
        choices=EFFORTS,
        help="the least effort that takes the thinking route (default xhigh)",
    )
    serve.add_argument(
        "--big",
        metavar="MODEL",
        help="the model for sonnet/opus requests: a name `lmgate backends` lists, or BACKEND:MODEL",
    )
    serve.add_argument(
        "--small", metavar="MODEL", help="the model for haiku requests (same forms as --big)"
    )
    _token_flag(serve, "the token clients must send")
    serve.add_argument(
        "--protocol",
        choices=("auto", "openai", "anthropic", "ollama"),
        help="how to talk to the backend (default: auto; applies to --backend, or else to every "
        "configured backend)",
    )
    serve.add_argument(
        "--review",
        choices=("classifier", "rules", "off"),
        help="auto mode's review of tool calls: the rules then a review model (default), the "
        "rules alone, or off (Claude Code then asks you to approve the actions it checks)",
    )
    serve.add_argument(
        "--review-model",
        metavar="MODEL",
        help="the review model: small (default), big, opus, a name `lmgate backends` lists, or "
        "BACKEND:MODEL",
    )
    serve.add_argument(
        "--require-client-keys",
        action="store_true",
        help="ask every request for a client key (`lmgate clients add`), on loopback too; off "
        "loopback they are asked whenever a client exists",
    )
    serve.add_argument(
        "--redis",
        metavar="URL",
        help="share message threads, limits and usage with other gateways through this Redis "
        "or Valkey (redis://host:6379/0; default: [team] redis_url, then LMGATE_REDIS_URL)",
    )
    _config_flag(serve)
    serve.set_defaults(handler=_serve)
    _route_command(commands)

    env = commands.add_parser(
        "env",
        help="print the environment that points Claude Code at the gateway",
        description='Print the variables to set before starting `claude`: eval "$(lmgate env)".',
    )
    env.add_argument(
        "--shell", choices=SHELLS, help="the shell to write for (default: guessed from $SHELL)"
    )
    _config_flag(env)
    _address_flags(env)
    _token_flag(env, "the token to put in ANTHROPIC_AUTH_TOKEN")
    env.set_defaults(handler=_env)

    token = commands.add_parser(
        "token",
        help="print the gateway token (from LMGATE_TOKEN or the OS keyring)",
        description="Print the gateway token: LMGATE_TOKEN when set, else the OS keyring.",
    )
    token.add_argument(
        "--new", action="store_true", help="generate a new token and store it in the OS keyring"
    )
    token.set_defaults(handler=_token)

    _catalogue_commands(commands)
    claude = commands.add_parser(
        "claude",
        help="point Claude Code at the gateway in its settings file, or undo that",
        description="apply: merge the gateway's variables into the `env` of Claude Code's user "
        "settings ($CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json), recording "
        "what they replace; the token is fetched by `apiKeyHelper` running `lmgate token`, "
        "never written. restore: put back the values it replaced (later edits are kept).",
    )
    claude.add_argument("action", choices=("apply", "restore"))
    claude.add_argument("--dry-run", action="store_true", help="show the change without writing it")
    claude.add_argument("--settings", metavar="PATH", help="the settings file to change")
    _config_flag(claude)
    _address_flags(claude)
    claude.set_defaults(handler=_claude)
    desktop = commands.add_parser(
        "claude-desktop",
        help="point Claude Desktop's third-party inference at the gateway, or undo that",
        description="apply: add an LM Gate configuration to Claude Desktop's config library "
        "(~/.config/Claude-3p/configLibrary on Linux, ~/Library/Application Support/Claude-3p/"
        "configLibrary on macOS, %%LOCALAPPDATA%%\\Claude-3p\\configLibrary on Windows) and make "
        "it the applied one; the big, opus and small models appear as claude-sonnet-lmgate, "
        "claude-opus-lmgate and claude-haiku-lmgate. restore: put the library back exactly as it "
        "was. show: where the library is, whether LM Gate's configuration is applied, and what "
        "apply writes. Relaunch Claude Desktop after a change.",
    )
    desktop.add_argument("action", choices=("apply", "restore", "show"))
    desktop.add_argument(
        "--dry-run", action="store_true", help="show the change without writing it"
    )
    desktop.add_argument("--library", metavar="DIR", help="the config library folder to change")
    _config_flag(desktop)
    _address_flags(desktop)
    desktop.set_defaults(handler=_claude_desktop)
    self_test = commands.add_parser(
        "self-test",
        help="check that this install works: requests, keyring, window and tray",
        description="Send one plain and one streamed request through the gateway to a built-in "
        "fake backend, do a keyring set/read/delete round trip, and draw the window and the "
        "tray offscreen; print each check. Exit status 1 when one fails.",
    )
    self_test.add_argument(
        "--no-keyring",
        action="store_true",
        help="skip the keyring round trip (where no secure keyring can run, e.g. a container)",
    )
    self_test.add_argument(
        "--no-gui", action="store_true", help="skip the window and tray (a headless install)"
    )
    self_test.set_defaults(handler=functools.partial(_self_test, gui_checks=gui_checks))
    return parser


def _route_command(commands: Any) -> None:
    route = commands.add_parser(
        "route",
        help="list, set or clear the routes beyond big/small/opus and their fallbacks",
        description="Routes send some requests to other models: long_context (a prompt over a "
        "threshold, to a model whose loaded window holds it), images (a vision model), "
        "thinking (a high effort or a thinking budget), subagent (Claude Code's subagents), "
        "background (haiku-class side requests). Each TARGET is a role, a model or "
        "BACKEND:MODEL; the later ones are tried when the first fails before answering. "
        "NAME big, small or opus sets that role's fallbacks. Written to the config file.",
    )
    route.add_argument("action", choices=("list", "set", "clear"))
    route.add_argument("name", nargs="?", metavar="NAME", choices=(*ROUTE_NAMES, *ROLES))
    route.add_argument("targets", nargs="*", metavar="TARGET")
    route.add_argument("--threshold", type=int, metavar="TOKENS", help="long_context's threshold")
    route.add_argument("--min-effort", choices=EFFORTS, help="thinking's least effort")
    _config_flag(route)
    route.set_defaults(handler=_route)


def _catalogue_commands(commands: Any) -> None:
    backends = commands.add_parser(
        "backends",
        help="list the backends and their models",
        description="Probe the configured backends and the usual local places once, and print "
        "each backend (status, version, protocol) and its models: loaded, context window and "
        "maximum, tools, vision, thinking.",
    )
    _config_flag(backends)
    backends.set_defaults(handler=_backends)
    doctor = commands.add_parser(
        "doctor",
        help="check the setup and say how to fix what is wrong",
        description="Check the backends, the models and their context windows, big/small "
        "swapping, the keyring and the port. Exit status 1 when something is an error.",
    )
    _config_flag(doctor)
    _address_flags(doctor)
    doctor.add_argument("--big", metavar="MODEL", help="check this big model instead")
    doctor.add_argument("--small", metavar="MODEL", help="check this small model instead")
    doctor.add_argument(
        "--fix-swap",
        action="store_true",
        help="when big and small are two models the backend cannot keep loaded together, use "
        "the big model for small too (writes `small` to the config file)",
    )
    doctor.set_defaults(handler=_doctor)
    keys = commands.add_parser(
        "keys",
        help="store, delete or list backend API keys in the OS keyring",
        description="Backend API keys live in the OS keyring (service lmgate, one entry per "
        "backend id). `set` reads the key from a prompt, or from stdin when piped; never from "
        "the command line. Headless: name an environment variable with api_key_env instead.",
    )
    keys.add_argument("action", choices=("set", "delete", "list"))
    keys.add_argument("backend", nargs="?", metavar="BACKEND", help="a backend id")
    _config_flag(keys)
    keys.set_defaults(handler=_keys)
    _team_commands(commands)


def _team_commands(commands: Any) -> None:
    clients = commands.add_parser(
        "clients",
        help="issue, list and revoke the keys clients use (team mode)",
        description="add: issue a key for NAME and print it once (only its SHA-256 is kept, in "
        "clients.toml beside the config); list: the clients and their limits; remove: revoke "
        "NAME's key. A running gateway sees changes within a second.",
    )
    clients.add_argument("action", choices=("add", "list", "remove"))
    clients.add_argument("name", nargs="?", metavar="NAME")
    clients.add_argument(
        "--daily-tokens", type=int, metavar="N", help="input + output tokens per UTC day"
    )
    clients.add_argument("--rpm", type=int, metavar="N", help="requests per minute")
    clients.add_argument("--admin", action="store_true", help="this key may also read /metrics")
    _config_flag(clients)
    clients.set_defaults(handler=_clients)
    usage = commands.add_parser(
        "usage",
        help="print requests, errors and tokens per client key or model",
        description="Usage of /v1/messages from the history beside the config (what `lmgate "
        "serve` and the app keep), or from the shared Redis when one is configured.",
    )
    usage.add_argument(
        "--by",
        choices=("client", "model"),
        help="one line per client key or per model (default: per both)",
    )
    usage.add_argument(
        "--since", default="24h", help="30m, 24h, 7d, today, or a date (default: 24h)"
    )
    usage.add_argument("--redis", metavar="URL", help="read the shared figures from this Redis")
    usage.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _config_flag(usage)
    usage.set_defaults(handler=_usage)


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings, dest, default=argparse.SUPPRESS, nargs=0, help="show the version"
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def _address_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="the address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="the port to listen on (default: 8082)")


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"the config file (default: {default_config_path()})",
    )


def _token_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--token",
        help=f"{what} (default: LMGATE_TOKEN, then the OS keyring). Other users can read "
        "command lines with `ps`: prefer LMGATE_TOKEN or `lmgate token --new`",
    )


def main(
    argv: Sequence[str] | None = None, *, gui_checks: Callable[[], list[Check]] | None = None
) -> int:
    """Run one command; returns the exit status. No command (or only flags) means `serve`."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in _TOP_LEVEL_FLAGS):
        args_list.insert(0, "serve")
    args = build_parser(gui_checks=gui_checks).parse_args(args_list)
    try:
        status: int = args.handler(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


# --- commands -----------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    loaded = _read_config(args.config)
    config = _with_flags(loaded.config, args)
    token: str | Callable[[], str | None] | None = args.token or os.environ.get("LMGATE_TOKEN")
    if not token and is_loopback(config.host):
        # Read from the keyring on a thread while the gateway starts to listen.
        from gateway.keystore import LazyToken

        token = LazyToken()
    elif not token:
        token = _stored_token()
    clients = _clients_path(args.config)
    from gateway.team.clients import ClientsError, read_clients

    try:
        has_clients = bool(read_clients(clients))
    except ClientsError as exc:
        raise UsageError(str(exc)) from None
    if config.team.require_client_keys and not has_clients:
        print(
            f"{PROG}: warning: client keys are required but {clients} lists none: every request "
            "is refused until `lmgate clients add NAME`",
            file=sys.stderr,
        )
    if unguarded(config.host, token) and not has_clients:
        raise UsageError(
            f"refusing to listen on {config.host} without a token: anyone who can reach this "
            "machine could use your models. Create one with `lmgate token --new` (or set "
            "LMGATE_TOKEN), issue client keys with `lmgate clients add NAME`, or listen on "
            "127.0.0.1"
        )
    api_keys = _api_keys(config)
    # Imported here: the server stack (uvicorn, FastAPI) is only needed by this command.
    from gateway.runner import serve_forever

    # The config's problem goes to the console and the log file once the server has one.
    notices = [loaded.problem] if loaded.problem else []
    from gateway.team.gate import TeamFiles
    from gateway.usage_store import HISTORY_NAME

    files = TeamFiles(clients=clients, history=clients.with_name(HISTORY_NAME))
    return serve_forever(
        config, token=token, api_keys=api_keys or None, notices=notices, team_files=files
    )


def _clients_path(config: str | None) -> Path:
    from gateway.team.clients import clients_path

    return clients_path(Path(config).expanduser() if config else default_config_path())


def _redis_url(flag: str | None, config: GatewayConfig) -> str | None:
    return flag or os.environ.get("LMGATE_REDIS_URL") or config.team.redis_url


def _clients(args: argparse.Namespace) -> int:
    from gateway.team.commands import clients_command

    return clients_command(
        _clients_path(args.config),
        args.action,
        args.name,
        daily_tokens=args.daily_tokens,
        rpm=args.rpm,
        admin=args.admin,
    )


def _usage(args: argparse.Namespace) -> int:
    from gateway.team.commands import parse_since, usage_command

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = _load_config(args.config)
    path = Path(args.config).expanduser() if args.config else default_config_path()
    return usage_command(
        path,
        by=args.by or "both",
        since=since,
        redis_url=_redis_url(args.redis, config),
        as_json=args.json,
    )


def _env(args: argparse.Namespace) -> int:
    config = _with_flags(_load_config(args.config), args)
    token = args.token or _stored_token()
    shell = args.shell or default_shell()
    window = _auto_compact_window(config)
    try:
        print(render(claude_env(config, token=token, auto_compact_window=window), shell))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _auto_compact_window(config: GatewayConfig) -> int | None:
    """The big model's loaded window, from one catalogue refresh; None when unknown (nothing
    reachable, the model not loaded)."""
    from gateway.backends.commands import catalogue_once
    from gateway.envline import compact_window

    snapshot = catalogue_once(config, api_keys=_api_keys(config, warn=False))
    return compact_window(config, snapshot)


def _backends(args: argparse.Namespace) -> int:
    from gateway.backends.commands import catalogue_once
    from gateway.backends.table import render_catalogue

    config = _load_config(args.config)
    print(render_catalogue(catalogue_once(config, api_keys=_api_keys(config, warn=False))))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from gateway.backends.commands import doctor, format_diagnosis
    from gateway.backends.doctor import Finding
    from gateway.config import save_config

    loaded = _read_config(args.config)
    on_file = loaded.config
    config = _with_flags(on_file, args)
    diagnosis = doctor(config, _api_keys(config, warn=False))
    if loaded.recovered_from is not None and loaded.problem:
        diagnosis.findings.insert(
            0,
            Finding(
                "warning",
                loaded.problem,
                f"if these settings are right, copy {loaded.recovered_from} to {loaded.path} "
                "(or change any setting in the app, which saves them)",
            ),
        )
    print(format_diagnosis(diagnosis))
    if args.fix_swap:
        if diagnosis.swap_fix is None:
            print("--fix-swap: the big and small models do not swap; nothing was changed")
        else:
            path = Path(args.config).expanduser() if args.config else default_config_path()
            save_config(on_file.model_copy(update={"small": diagnosis.swap_fix}), path)
            print(f'--fix-swap: wrote small = "{diagnosis.swap_fix}" to {path}')
    return 1 if diagnosis.errors else 0


def _keys(args: argparse.Namespace) -> int:
    from gateway.backends.commands import keys_command

    config = _load_config(args.config)
    return keys_command(args.action, args.backend, configured=[b.id for b in config.backends])


def _route(args: argparse.Namespace) -> int:
    from gateway.config import save_config

    path = Path(args.config).expanduser() if args.config else default_config_path()
    config = _read_config(args.config).config
    if args.action == "list":
        print("\n".join(describe_routes(config)))
        return 0
    if args.name is None:
        raise UsageError(f"route {args.action}: name the route ({', '.join(ROUTE_NAMES)})")
    data = config.model_dump()
    if args.action == "set":
        if not args.targets:
            raise UsageError(f"route set {args.name}: give at least one TARGET")
        data = with_route(
            data, args.name, args.targets, threshold=args.threshold, min_effort=args.min_effort
        )
    else:
        data = without_route(data, args.name)
    try:
        updated = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"bad value: {_describe(exc)}") from None
    save_config(updated, path)
    line = next((x for x in describe_routes(updated) if x.startswith(args.name)), args.name)
    print(f"{line}\n(written to {path}; a running gateway uses it once restarted)")
    return 0


def _token(args: argparse.Namespace) -> int:
    from gateway.keystore import TOKEN_ENV, KeyringUnavailable, generate_token, get_token

    if args.new:
        try:
            token = generate_token()
        except KeyringUnavailable as exc:
            print(f"{PROG}: cannot store a new token: {exc.message}", file=sys.stderr)
            return 1
        if os.environ.get(TOKEN_ENV):
            print(
                f"{PROG}: note: {TOKEN_ENV} is set in this environment and is used instead of "
                "the new token until you unset it",
                file=sys.stderr,
            )
        print(token)
        return 0
    problem = ""
    try:
        stored = get_token()
    except KeyringUnavailable as exc:
        stored, problem = None, f" ({exc.message})"
    if stored:
        print(stored)
        return 0
    print(
        f"{PROG}: no gateway token is set. Create one with `lmgate token --new` (kept in the OS "
        f"keyring), or set {TOKEN_ENV} in the environment{problem}",
        file=sys.stderr,
    )
    return 1


def _claude(args: argparse.Namespace) -> int:
    from gateway import claude_settings as cs

    path = Path(args.settings).expanduser() if args.settings else cs.settings_path()
    try:
        if args.action == "apply":
            config = _with_flags(_load_config(args.config), args)
            plan = cs.plan_apply(config, token_set=bool(_stored_token()), path=path)
        else:
            plan = cs.plan_restore(path)
        if plan.changed:
            print(plan.diff(), end="")
        if not args.dry_run:
            cs.write(plan)
    except cs.ClaudeSettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        print("(dry run: nothing was written)" if plan.changed else "nothing to change")
    elif args.action == "apply":
        print(
            f"Claude Code now uses LM Gate at {config.base_url} (settings: {path}); "
            f"`{PROG} claude restore` undoes it"
        )
    else:
        print(f"Claude Code's settings are back as they were before LM Gate ({path})")
    return 0


def _claude_desktop(args: argparse.Namespace) -> int:
    from gateway import claude_desktop as cd

    library = Path(args.library).expanduser() if args.library else cd.library_path()
    try:
        if args.action == "show":
            return _show_desktop(args, library)
        if args.action == "apply":
            config = _with_flags(_load_config(args.config), args)
            plan = cd.plan_apply(config, token=_stored_token(), library=library)
        else:
            plan = cd.plan_restore(library)
        if plan.changed:
            print(plan.diff(), end="")
        if not args.dry_run:
            cd.write(plan)
    except cd.ClaudeDesktopError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: cannot write in {library}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        print("(dry run: nothing was written)" if plan.changed else "nothing to change")
    elif args.action == "apply":
        print(
            f"Claude Desktop now uses LM Gate at {config.base_url} (config library: {library}); "
            f"relaunch it. `{PROG} claude-desktop restore` undoes it"
        )
    else:
        print(f"Claude Desktop's config library is back as it was before LM Gate ({library})")
    return 0


def _show_desktop(args: argparse.Namespace, library: Path) -> int:
    import json

    from gateway import claude_desktop as cd

    config = _with_flags(_load_config(args.config), args)
    url = cd.applied_url(library)
    print(f"config library: {library}")
    print(
        f"applied: LM Gate at {url}"
        if url
        else "applied: no (LM Gate's configuration is not in it)"
    )
    entry = cd.desired_config(config, token=None)
    if _stored_token():
        entry["inferenceGatewayApiKey"] = "<the gateway token>"
    print("apply writes:")
    print(json.dumps(entry, indent=2))
    return 0


def _self_test(
    args: argparse.Namespace, *, gui_checks: Callable[[], list[Check]] | None = None
) -> int:
    from gateway.selftest import run

    return run(keyring=not args.no_keyring, gui=not args.no_gui, gui_checks=gui_checks)


# --- configuration ------------------------------------------------------------------------------


def _load_config(path: str | None) -> GatewayConfig:
    """`_read_config`, with what went wrong on stderr."""
    loaded = _read_config(path)
    if loaded.problem:
        print(f"{PROG}: warning: {loaded.problem}", file=sys.stderr)
    return loaded.config


def _read_config(path: str | None) -> ConfigLoad:
    """The config file, strictly: unlike the GUI, which sets a broken file aside and starts on
    defaults, a headless start stops and says what to fix. A missing or broken file whose
    backup is whole gives the backup's settings, with `problem` saying so."""
    file = Path(path).expanduser() if path else default_config_path()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return _recovered(
            file,
            f"the config file {file} is missing",
            None if path else GatewayConfig.model_validate({}),
            f"the config file {file} does not exist",
        )
    except OSError as exc:
        why = f"the config file {file} cannot be read: {exc.strerror or exc}"
        return _recovered(file, why, None, why)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        why = f"the config file {file} is not valid TOML: {exc}"
        return _recovered(file, why, None, why)
    try:
        return ConfigLoad(config=GatewayConfig.model_validate(data), path=file)
    except ValidationError as exc:
        why = f"the config file {file} has a bad value: {_describe(exc)}"
        return _recovered(file, why, None, why)


def _recovered(file: Path, why: str, fallback: GatewayConfig | None, refusal: str) -> ConfigLoad:
    """The backup's settings when `file` cannot be used; else `fallback` (None: refuse)."""
    backup = find_backup(file)
    if backup is not None and backup.config is not None:
        message = recovery_message(file, why, backup)
        return ConfigLoad(
            config=backup.config, path=file, problem=message, recovered_from=backup.path
        )
    if backup is not None:
        # A backup that exists says there were settings: never start on defaults over them.
        raise UsageError(f"{recovery_message(file, why, backup)}: fix or delete them")
    if fallback is None:
        raise UsageError(refusal)
    return ConfigLoad(config=fallback, path=file)


def _with_flags(config: GatewayConfig, args: argparse.Namespace) -> GatewayConfig:
    data = config.model_dump()
    for field in ("host", "port", "big", "small"):
        value = getattr(args, field, None)
        if value is not None:
            data[field] = value
    review = getattr(args, "review", None)
    review_model = getattr(args, "review_model", None)
    if review is not None or review_model is not None:
        data["review"] = {
            **data["review"],
            **({"mode": review} if review is not None else {}),
            **({"model": review_model} if review_model is not None else {}),
        }
    if getattr(args, "require_client_keys", False):
        data["team"] = {**data["team"], "require_client_keys": True}
    if hasattr(args, "redis"):
        data["team"] = {**data["team"], "redis_url": _redis_url(args.redis, config)}
    backends = getattr(args, "backend", None)
    protocol = getattr(args, "protocol", None)
    if backends:
        for url in backends:
            _check_url(url)
        # The first is "default" (as with one --backend); the others its fallbacks, in order.
        ids = ["default", *(f"fallback-{n}" for n in range(1, len(backends)))]
        data["backends"] = [
            {"id": bid, "url": url, "protocol": protocol or "auto"}
            for bid, url in zip(ids, backends, strict=True)
        ]
        if len(ids) > 1:
            data["backends"][0]["fallbacks"] = ids[1:]
        data["discover"] = False  # those servers, nothing else
    elif protocol is not None:
        data["backends"] = [{**b, "protocol": protocol} for b in data["backends"]]
    threshold = getattr(args, "long_context_threshold", None)
    effort = getattr(args, "thinking_effort", None)
    for text in getattr(args, "route", None) or ():
        try:
            name, targets = parse_route_flag(text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        data = with_route(data, name, targets, threshold=threshold, min_effort=effort)
    routes = data.get("routes") or {}
    if threshold is not None and routes.get("long_context"):
        routes["long_context"] = {**routes["long_context"], "threshold": threshold}
    if effort is not None and routes.get("thinking"):
        routes["thinking"] = {**routes["thinking"], "min_effort": effort}
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"bad value: {_describe(exc, flags=True)}") from None


def _check_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(
            f"--backend {url!r} is not an http(s) URL; give a base URL such as "
            "http://127.0.0.1:1234/v1"
        )


def _describe(exc: ValidationError, *, flags: bool = False) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "config"
    if flags and where in ("host", "port", "big", "small"):
        where = f"--{where}"
    return f"{where}: {error['msg']}"


# --- secrets ------------------------------------------------------------------------------------


def _stored_token() -> str | None:
    """LMGATE_TOKEN, else the keyring; a keyring that cannot be used just means no token."""
    from gateway.keystore import KeyringUnavailable, get_token

    try:
        return get_token()
    except KeyringUnavailable:
        return None


def _api_keys(config: GatewayConfig, *, warn: bool = True) -> dict[str, str]:
    """Backend id → API key: from the variable named by `api_key_env`, else the keyring entry
    named after the backend id. `warn`: say which variables are unset."""
    from gateway.keystore import KeyringUnavailable, default_keystore

    keys: dict[str, str] = {}
    keyring_usable = True
    for backend in config.backends:
        if backend.api_key_env:
            value = os.environ.get(backend.api_key_env)
            if value:
                keys[backend.id] = value
            elif warn:
                print(
                    f"{PROG}: warning: backend {backend.id}: {backend.api_key_env} is not set; "
                    "requests go without an API key",
                    file=sys.stderr,
                )
        elif keyring_usable:
            try:
                value = default_keystore().get(backend.id)
            except KeyringUnavailable:
                keyring_usable = False
                continue
            if value:
                keys[backend.id] = value
    return keys


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lmgate")
    except PackageNotFoundError:
        return "(development)"
