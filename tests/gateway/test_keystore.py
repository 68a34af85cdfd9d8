from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend
from keyring.backends.SecretService import Keyring as SecretServiceKeyring

from gateway import keystore
from gateway.keystore import (
    INDEX_NAME,
    SERVICE,
    TOKEN_NAME,
    KeyringUnavailable,
    Keystore,
    generate_token,
    get_token,
)
from tests.paths import REPO


class MemoryKeyring(SecretServiceKeyring):
    """Stands in for a running Secret Service: same class family, secrets in a dict."""

    # Never picked by keyring's own detection, which sees every subclass defined anywhere.
    priority = -10

    def __init__(self) -> None:
        # Named, not super(): keyring's __init__ is unannotated and mypy excludes it by name.
        KeyringBackend.__init__(self)
        self.store: dict[tuple[str, str], str] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_with: Exception | None = None

    def get_password(self, service: str, username: str) -> str | None:
        self._touch("get", username)
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._touch("set", username)
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._touch("delete", username)
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError("not found")
        del self.store[(service, username)]

    def _touch(self, action: str, username: str) -> None:
        self.calls.append((action, username))
        if self.fail_with is not None:
            raise self.fail_with


class PlaintextKeyring(KeyringBackend):
    """Like keyrings.alt's file backend: works, but writes secrets in the clear."""

    priority = -10

    def __init__(self) -> None:
        KeyringBackend.__init__(self)

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plaintext keyring must never receive a secret")

    def delete_password(self, service: str, username: str) -> None:
        return None


@pytest.fixture(autouse=True)
def clean_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.delenv("LMGATE_TOKEN", raising=False)
    monkeypatch.setattr(keystore, "_default", None)
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


def test_round_trip_through_the_registered_keyring(memory: MemoryKeyring) -> None:
    store = Keystore()
    assert store.get("openrouter") is None
    assert store.names() == []
    store.set("openrouter", "sk-or-1")
    store.set("groq", "gsk-2")
    store.set("openrouter", "sk-or-3")
    assert memory.store[(SERVICE, "openrouter")] == "sk-or-3"
    assert json.loads(memory.store[(SERVICE, INDEX_NAME)]) == ["openrouter", "groq"]
    # A fresh instance reads everything back from the keyring.
    fresh = Keystore()
    assert fresh.get("openrouter") == "sk-or-3"
    assert fresh.names() == ["openrouter", "groq"]
    fresh.delete("openrouter")
    assert (SERVICE, "openrouter") not in memory.store
    assert fresh.get("openrouter") is None
    assert Keystore().names() == ["groq"]


def test_reads_are_cached_after_the_first(memory: MemoryKeyring) -> None:
    memory.store[(SERVICE, "k")] = "v1"
    store = Keystore()
    assert store.get("k") == "v1"
    assert store.get("missing") is None
    memory.store[(SERVICE, "k")] = "changed behind our back"
    memory.store[(SERVICE, "missing")] = "appeared"
    calls = len(memory.calls)
    assert store.get("k") == "v1"
    assert store.get("missing") is None
    assert len(memory.calls) == calls


def test_deleting_a_missing_name_is_not_an_error(memory: MemoryKeyring) -> None:
    Keystore().delete("never-set")
    assert ("delete", "never-set") in memory.calls


def test_the_index_name_is_reserved(memory: MemoryKeyring) -> None:
    with pytest.raises(ValueError, match="reserved"):
        Keystore().set(INDEX_NAME, "[]")
    with pytest.raises(ValueError, match="reserved"):
        Keystore().delete(INDEX_NAME)


def test_an_unreadable_index_starts_afresh(
    memory: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    memory.store[(SERVICE, INDEX_NAME)] = "{not json"
    store = Keystore()
    assert store.names() == []
    store.set("a", "1")
    assert store.names() == ["a"]
    assert "unreadable" in caplog.text


def test_values_are_never_logged(memory: MemoryKeyring, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = Keystore()
    store.set("k", "SECRET-VALUE-123")
    store.get("k")
    memory.fail_with = keyring.errors.KeyringLocked("Failed to unlock the collection!")
    with pytest.raises(KeyringUnavailable) as info:
        Keystore().set("k", "SECRET-VALUE-456")
    assert "SECRET-VALUE" not in caplog.text
    assert "SECRET-VALUE" not in info.value.message


def test_a_locked_keyring_is_unavailable_with_advice(memory: MemoryKeyring) -> None:
    memory.fail_with = keyring.errors.KeyringLocked("Failed to unlock the collection!")
    with pytest.raises(KeyringUnavailable) as info:
        Keystore().get(TOKEN_NAME)
    assert "Failed to unlock" in info.value.message
    assert "LMGATE_TOKEN" in info.value.message


def test_backend_errors_of_other_types_are_unavailable_too(memory: MemoryKeyring) -> None:
    memory.fail_with = RuntimeError("D-Bus connection closed")
    with pytest.raises(KeyringUnavailable, match="D-Bus connection closed"):
        Keystore().get("k")


def test_null_backend_is_accepted_only_when_pinned_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyring.set_keyring(keyring.backends.null.Keyring())
    with pytest.raises(KeyringUnavailable, match=re.escape("keyring.backends.null.Keyring")):
        Keystore().get("k")

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    keyring.core.init_backend()
    assert isinstance(keyring.get_keyring(), keyring.backends.null.Keyring)
    store = Keystore()
    assert store.get("k") is None
    store.set("k", "v")  # the null backend drops it; only this instance's cache has it
    assert Keystore().get("k") is None


def test_the_fail_backend_is_refused_with_what_to_do_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(KeyringUnavailable) as info:
        Keystore().set("k", "v")
    message = info.value.message
    assert "no secure keyring" in message
    assert "LMGATE_TOKEN" in message
    assert "--token" in message
    assert "gnome-keyring" in message
    assert str(info.value) == message


def test_a_plaintext_backend_is_refused() -> None:
    keyring.set_keyring(PlaintextKeyring())
    with pytest.raises(KeyringUnavailable, match="PlaintextKeyring"):
        Keystore().set("k", "v")


def test_a_chain_with_a_plaintext_member_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    secure = MemoryKeyring()
    monkeypatch.setattr(ChainerBackend, "backends", [secure, PlaintextKeyring()])
    keyring.set_keyring(ChainerBackend())
    with pytest.raises(KeyringUnavailable, match="PlaintextKeyring"):
        Keystore().set("k", "v")
    assert secure.calls == []


def test_a_chain_of_secure_backends_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = MemoryKeyring(), MemoryKeyring()
    monkeypatch.setattr(ChainerBackend, "backends", [first, second])
    keyring.set_keyring(ChainerBackend())
    Keystore().set("k", "v")
    assert first.store[(SERVICE, "k")] == "v"


def test_an_empty_chain_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ChainerBackend, "backends", [])
    keyring.set_keyring(ChainerBackend())
    with pytest.raises(KeyringUnavailable):
        Keystore().get("k")


def test_get_token_prefers_the_environment(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.store[(SERVICE, TOKEN_NAME)] = "from-keyring"
    monkeypatch.setenv("LMGATE_TOKEN", "from-env")
    assert get_token() == "from-env"
    assert memory.calls == []
    monkeypatch.setenv("LMGATE_TOKEN", "")
    assert get_token() == "from-keyring"
    monkeypatch.delenv("LMGATE_TOKEN")
    assert get_token(Keystore()) == "from-keyring"


def test_get_token_none_and_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(MemoryKeyring())
    assert get_token() is None
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(KeyringUnavailable):
        get_token(Keystore())
    monkeypatch.setenv("LMGATE_TOKEN", "env-token")
    assert get_token(Keystore()) == "env-token"


def test_generate_token_stores_a_fresh_url_safe_token(memory: MemoryKeyring) -> None:
    first = generate_token()
    second = generate_token()
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", second)
    assert memory.store[(SERVICE, TOKEN_NAME)] == second
    assert get_token() == second
    assert Keystore().names() == [TOKEN_NAME]


def test_keystore_is_the_only_module_that_imports_keyring() -> None:
    pattern = re.compile(r"^\s*(import keyring|from keyring)\b", re.MULTILINE)
    users = [
        path.relative_to(REPO).as_posix()
        for folder in ("gateway", "app")
        for path in sorted((REPO / folder).rglob("*.py"))
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert users == ["gateway/keystore.py"]
    assert Path(keystore.__file__).resolve() == REPO / "gateway" / "keystore.py"
