"""The `lmgate` command line: serve, env and token, with the commands still to come reserved.

Qt-free, and quick to start: the server, the keyring and the tokenizer are imported by the
commands that need them. Precedence everywhere: flags > config file > defaults.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import os
import sys
import tomllib
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config import GatewayConfig, default_config_path
from gateway.envline import SHELLS, claude_env, default_shell, render

__all__ = ["build_parser", "main"]

PROG = "lmgate"
RESERVED = ("backends", "doctor", "keys", "claude", "self-test")
_TOP_LEVEL_FLAGS = {"-h", "--help", "--version"}


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
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
        help="use this one OpenAI-compatible server instead of the configured backends "
        "(a base URL, with or without /v1, e.g. http://127.0.0.1:1234/v1)",
    )
    serve.add_argument("--big", metavar="MODEL", help="the model for sonnet/opus requests")
    serve.add_argument("--small", metavar="MODEL", help="the model for haiku requests")
    _token_flag(serve, "the token clients must send")
    serve.add_argument(
        "--protocol",
        choices=("auto", "openai", "anthropic"),
        help="how to talk to the backend (default: auto; applies to --backend, or else to every "
        "configured backend)",
    )
    _config_flag(serve)
    serve.set_defaults(handler=_serve)

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

    later = "(not available in this version yet)"
    reserved = commands.add_parser("backends", help=f"list backends and their models {later}")
    reserved.set_defaults(handler=_not_yet)
    reserved = commands.add_parser("doctor", help=f"check the setup end to end {later}")
    reserved.set_defaults(handler=_not_yet)
    keys = commands.add_parser("keys", help=f"manage backend API keys in the keyring {later}")
    keys.add_argument("action", nargs="?", choices=("set", "delete", "list"))
    keys.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    keys.set_defaults(handler=_not_yet)
    claude = commands.add_parser(
        "claude", help=f"write or undo the gateway settings in Claude Code's settings {later}"
    )
    claude.add_argument("action", nargs="?", choices=("apply", "restore"))
    claude.set_defaults(handler=_not_yet)
    reserved = commands.add_parser(
        "self-test", help=f"send test requests through the gateway {later}"
    )
    reserved.set_defaults(handler=_not_yet)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status. No command (or only flags) means `serve`."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in _TOP_LEVEL_FLAGS):
        args_list.insert(0, "serve")
    args = build_parser().parse_args(args_list)
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
    config = _with_flags(_load_config(args.config), args)
    token = args.token or _stored_token()
    if not token and not _is_loopback(config.host):
        raise UsageError(
            f"refusing to listen on {config.host} without a token: anyone who can reach this "
            "machine could use your models. Create one with `lmgate token --new` (or set "
            "LMGATE_TOKEN), or listen on 127.0.0.1"
        )
    api_keys = _api_keys(config)
    # Imported here: the server stack (uvicorn, FastAPI) is only needed by this command.
    runner: Any = importlib.import_module("gateway.runner")
    return int(runner.serve_forever(config, token=token, api_keys=api_keys or None))


def _env(args: argparse.Namespace) -> int:
    config = _with_flags(_load_config(args.config), args)
    token = args.token or _stored_token()
    shell = args.shell or default_shell()
    try:
        print(render(claude_env(config, token=token), shell))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
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


def _not_yet(args: argparse.Namespace) -> int:
    name = " ".join(x for x in (args.command, getattr(args, "action", None)) if x)
    print(f"{PROG} {name} is not available in this version yet", file=sys.stderr)
    return 2


# --- configuration ------------------------------------------------------------------------------


def _load_config(path: str | None) -> GatewayConfig:
    """The config file, strictly: unlike the GUI, which sets a broken file aside and starts on
    defaults, a headless start stops and says what to fix."""
    file = Path(path).expanduser() if path else default_config_path()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        if path:
            raise UsageError(f"the config file {file} does not exist") from None
        return GatewayConfig.model_validate({})
    except OSError as exc:
        raise UsageError(f"the config file {file} cannot be read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"the config file {file} is not valid TOML: {exc}") from None
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"the config file {file} has a bad value: {_describe(exc)}") from None


def _with_flags(config: GatewayConfig, args: argparse.Namespace) -> GatewayConfig:
    data = config.model_dump()
    for field in ("host", "port", "big", "small"):
        value = getattr(args, field, None)
        if value is not None:
            data[field] = value
    backend = getattr(args, "backend", None)
    protocol = getattr(args, "protocol", None)
    if backend is not None:
        _check_url(backend)
        data["backends"] = [{"id": "default", "url": backend, "protocol": protocol or "auto"}]
    elif protocol is not None:
        data["backends"] = [{**b, "protocol": protocol} for b in data["backends"]]
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


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- secrets ------------------------------------------------------------------------------------


def _stored_token() -> str | None:
    """LMGATE_TOKEN, else the keyring; a keyring that cannot be used just means no token."""
    from gateway.keystore import KeyringUnavailable, get_token

    try:
        return get_token()
    except KeyringUnavailable:
        return None


def _api_keys(config: GatewayConfig) -> dict[str, str]:
    """Backend id → API key: from the variable named by `api_key_env`, else the keyring entry
    named after the backend id."""
    from gateway.keystore import KeyringUnavailable, default_keystore

    keys: dict[str, str] = {}
    keyring_usable = True
    for backend in config.backends:
        if backend.api_key_env:
            value = os.environ.get(backend.api_key_env)
            if value:
                keys[backend.id] = value
            else:
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
