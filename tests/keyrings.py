"""An in-memory keyring of the Secret Service class family, for tests that drive the keystore."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.backends.SecretService import Keyring as SecretServiceKeyring

__all__ = ["MemoryKeyring"]


class MemoryKeyring(SecretServiceKeyring):
    """Stands in for a running Secret Service: the same class family, secrets in a dict."""

    priority = -10  # never picked by keyring's own detection

    def __init__(self) -> None:
        # Named, not super(): keyring's __init__ is unannotated and mypy excludes it by name.
        KeyringBackend.__init__(self)
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)
