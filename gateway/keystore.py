"""Secrets in the OS keyring (service `lmgate`): the gateway token and backend API keys.

The only module that imports `keyring`. Every call may block (D-Bus, an unlock prompt), so
callers must not make them on the event loop: the server reads its token once before it starts,
and the GUI asks from a worker thread. Values are never logged.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

__all__ = [
    "LazyToken",
    "SERVICE",
    "TOKEN_ENV",
    "TOKEN_NAME",
    "KeyringUnavailable",
    "Keystore",
    "default_keystore",
    "generate_token",
    "get_token",
]

log = logging.getLogger("lmgate.keystore")

SERVICE = "lmgate"
TOKEN_NAME = "gateway-token"
TOKEN_ENV = "LMGATE_TOKEN"
# keyring cannot list what a service holds, so the names are kept in an entry of their own.
INDEX_NAME = "__index__"

# Backends that keep secrets encrypted by the OS, named by class so that none of their
# platform-specific modules has to be imported to check.
SECURE_BACKENDS = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.kwallet.DBusKeyringKWallet4",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
    }
)
_NULL_BACKEND = "keyring.backends.null.Keyring"


class KeyringUnavailable(Exception):
    """No secure keyring can be used; the message says what to do instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_secure(backend: KeyringBackend) -> bool:
    return any(_qualified(cls) in SECURE_BACKENDS for cls in type(backend).__mro__)


def _advice() -> str:
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        start = "start a Secret Service such as gnome-keyring (or KWallet) in your session"
    else:
        start = "unlock the system keychain"
    return (
        f"Set {TOKEN_ENV} in the environment or pass --token instead (a backend's API key: name "
        f"an environment variable with api_key_env in the config), or {start} and try again"
    )


def _check(backend: KeyringBackend) -> None:
    name = _qualified(type(backend))
    if name == _NULL_BACKEND and os.environ.get("PYTHON_KEYRING_BACKEND") == _NULL_BACKEND:
        return  # pinned on purpose, for tests
    # A chain falls through to its next member when one cannot answer, so a single plaintext
    # member is enough to put secrets in a file.
    members = list(backend.backends) if isinstance(backend, ChainerBackend) else [backend]
    insecure = [_qualified(type(member)) for member in members if not _is_secure(member)]
    if not members or insecure:
        found = ", ".join(insecure) or name
        raise KeyringUnavailable(f"no secure keyring is available (found {found}). {_advice()}.")


class Keystore:
    """Named secrets under the service `lmgate`, cached in memory after the first read.

    Thread-safe. Every method may block on the OS keyring: keep it off the event loop.
    """

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend
        self._checked = False
        self._cache: dict[str, str | None] = {}
        self._lock = threading.RLock()

    def _keyring(self) -> KeyringBackend:
        backend = self._backend if self._backend is not None else keyring.get_keyring()
        if not self._checked:
            _check(backend)
            self._checked = True
            self._backend = backend
        return backend

    def get(self, name: str) -> str | None:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._call("read", name, None)
            return self._cache[name]

    def set(self, name: str, value: str) -> None:
        _not_the_index(name)
        with self._lock:
            self._call("write", name, value)
            self._cache[name] = value
            names = self.names()
            if name not in names:
                self._write_index([*names, name])

    def delete(self, name: str) -> None:
        """Remove `name`; a name that is not there is not an error."""
        _not_the_index(name)
        with self._lock:
            self._call("delete", name, None)
            self._cache[name] = None
            names = self.names()
            if name in names:
                self._write_index([n for n in names if n != name])

    def names(self) -> list[str]:
        """The names stored through this class, in the order they were first set."""
        with self._lock:
            raw = self.get(INDEX_NAME)
            if not raw:
                return []
            try:
                names = json.loads(raw)
            except ValueError:
                log.warning("the keyring's list of lmgate entries is unreadable; starting afresh")
                return []
            if not isinstance(names, list):
                return []
            return [n for n in names if isinstance(n, str)]

    def _write_index(self, names: list[str]) -> None:
        text = json.dumps(names)
        self._call("write", INDEX_NAME, text)
        self._cache[INDEX_NAME] = text

    def _call(self, action: str, name: str, value: str | None) -> str | None:
        backend = self._keyring()
        try:
            if action == "read":
                return backend.get_password(SERVICE, name)
            if action == "write":
                assert value is not None
                backend.set_password(SERVICE, name, value)
            else:
                try:
                    backend.delete_password(SERVICE, name)
                except keyring.errors.PasswordDeleteError:
                    pass  # already gone
            return None
        except Exception as exc:
            # Locked collection, dismissed prompt, D-Bus gone: backends raise their own types
            # (secretstorage's among them), and all of them mean the keyring cannot answer.
            raise KeyringUnavailable(
                f"the keyring could not {action} '{name}' ({type(exc).__name__}: {exc}). "
                f"{_advice()}."
            ) from None


_default: Keystore | None = None
_default_lock = threading.Lock()


def default_keystore() -> Keystore:
    """The process-wide keystore, so that every caller shares one cache."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Keystore()
        return _default


def get_token(store: Keystore | None = None) -> str | None:
    """The gateway token: `LMGATE_TOKEN` when set, else the keyring entry `gateway-token`.

    Raises KeyringUnavailable when the environment has none and the keyring cannot be used.
    """
    value = os.environ.get(TOKEN_ENV)
    if value:
        return value
    return (store or default_keystore()).get(TOKEN_NAME)


class LazyToken:
    """The gateway token read from the keyring on a thread, so that a headless gateway listens
    without waiting for D-Bus (and never blocks its event loop on it). Until the keyring has
    answered, calling it raises Overloaded: requests are refused, never let through unchecked."""

    def __init__(self, store: Keystore | None = None) -> None:
        self._store = store
        self._value: str | None = None
        self.problem: str | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._load, name="lmgate-token", daemon=True).start()

    def _load(self) -> None:
        try:
            self._value = get_token(self._store)
        except KeyringUnavailable as exc:
            self.problem = exc.message  # no usable keyring: no token, as documented
        finally:
            self._ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def __call__(self) -> str | None:
        if not self._ready.is_set():
            from gateway.errors import Overloaded

            raise Overloaded(
                "the gateway is still reading its token from the keyring", retry_after=1
            )
        return self._value


def generate_token(store: Keystore | None = None) -> str:
    """A new random gateway token, stored in the keyring (replacing any previous one)."""
    token = secrets.token_urlsafe(32)
    (store or default_keystore()).set(TOKEN_NAME, token)
    return token


def _not_the_index(name: str) -> None:
    if name == INDEX_NAME:
        raise ValueError(f"'{INDEX_NAME}' is reserved")
