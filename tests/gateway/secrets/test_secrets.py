"""Secrets never leave their place: the gateway token and a backend's API key, set to marker
values, are driven through good requests, 401s of both kinds, a backend that fails and a
crash, then looked for everywhere the gateway writes: the log file, every record, the console,
every answer, the saved config. The files are the user's alone."""

from __future__ import annotations

import dataclasses
import logging
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.config import BackendConfig, GatewayConfig, save_config
from gateway.events import EventBus
from gateway.logfile import LOG_FILE_NAME, attach_log_file
from gateway.runner import GatewayServer
from tests.fakes.replies import CutAfter, Error, MalformedJSON
from tests.fakes.server import FakeBackend
from tests.records import RecordSink

Start = Callable[..., FakeBackend]
TOKEN = "lmg-TOKEN-MARKER-9c41d7e2"
KEY = "sk-KEY-MARKER-5e8a03bf"
MARKERS = (TOKEN, KEY, TOKEN[4:20], KEY[3:19])  # whole, and long enough pieces of each
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "hi"}],
}


def leaks(text: str) -> list[str]:
    return [marker for marker in MARKERS if marker in text]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Harness:
    """A gateway with a token and a backend key, its records, its log file and every answer."""

    def __init__(self, fake: FakeBackend, log_dir: Path) -> None:
        self.fake = fake
        self.log_dir = log_dir
        self.bus = EventBus()
        self.records = RecordSink(self.bus)
        self.answers: list[httpx.Response] = []
        self.config = GatewayConfig(
            port=0,
            backends=[BackendConfig(id="fake", url=fake.url, api_key_env="LMGATE_TEST_KEY")],
            discover=False,
            big="fake-model",
            small="fake-model",
        )
        self.server = GatewayServer(self.config, bus=self.bus, token=TOKEN, api_keys={"fake": KEY})

    def post(self, headers: dict[str, str], stream: bool = False, **body: Any) -> httpx.Response:
        response = httpx.post(
            f"{self.server.url}/v1/messages",
            json={**BODY, "stream": stream, **body},
            headers=headers,
            timeout=10,
        )
        self.answers.append(response)
        return response

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        response = httpx.get(f"{self.server.url}{path}", headers=headers, timeout=10)
        self.answers.append(response)
        return response


@pytest.fixture
def harness(fake_backend: Callable[..., FakeBackend], tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(fake_backend("lmstudio"), tmp_path / "state" / "logs")
    detach = attach_log_file(harness.bus, harness.log_dir, level=logging.DEBUG)
    harness.server.start()
    try:
        yield harness
    finally:
        harness.server.stop()
        detach()


def drive(h: Harness, monkeypatch: pytest.MonkeyPatch) -> int:
    """Returns how many records the requests leave: the guard's refusals and a crash before the
    relay leave none."""
    good = {"x-api-key": TOKEN}
    bearer = {"authorization": f"Bearer {TOKEN}"}
    assert h.post(good).status_code == 200
    assert h.post(bearer, stream=True).status_code == 200
    assert h.post(good, model="claude-haiku-4-5").status_code == 200
    # The client gets it wrong: no token, another one, the right one in the wrong place.
    for headers in ({}, {"x-api-key": TOKEN + "x"}, {"authorization": TOKEN}, {"cookie": TOKEN}):
        assert h.post(headers).status_code == 401
    assert h.get("/v1/models", {"authorization": f"Basic {TOKEN}"}).status_code == 401
    # The backend refuses the key, or fails in other ways.
    h.fake.script(
        Error(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}}),
        Error(403, {"error": "forbidden"}),
        Error(500),
        MalformedJSON(),
        CutAfter(2),
    )
    assert h.post(good).status_code == 401
    assert h.post(good).status_code == 403
    assert h.post(good).status_code == 500
    assert h.post(good).status_code == 502
    assert h.post(good, stream=True).status_code == 200  # cut mid-stream: an error event
    # Crashes: inside the relay, and before it (the app's last-resort handler).
    with monkeypatch.context() as patch:
        patch.setattr(
            "gateway.api.relay.MessagesRelay._finished",
            lambda self, message: 1 / 0,
        )
        assert h.post(good).status_code == 502
    with monkeypatch.context() as patch:

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the plan failed")

        patch.setattr("gateway.api.messages.make_plan", crash)
        assert h.post(good).status_code == 500
    for path in ("/health", "/v1/models", "/", "/openapi.json"):
        assert h.get(path, good).status_code == 200
    assert h.get("/v1/models", {}).status_code == 401
    posts = sum(1 for r in h.answers if r.request.method == "POST")
    return posts - 4 - 1


def test_no_secret_in_logs_records_answers_or_the_console(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    records = harness.records.wait(drive(harness, monkeypatch))
    assert any(r.error and "ZeroDivisionError" in r.error for r in records)  # the crash path ran
    assert any(r.extra.get("headers") for r in records)  # the headers were kept, redacted

    for record in records:
        dumped = orjson.dumps(dataclasses.asdict(record), default=str).decode()
        assert not leaks(dumped + repr(record)), record
    for answer in harness.answers:
        shown = answer.text + "".join(f"{k}: {v}\n" for k, v in answer.headers.items())
        assert not leaks(shown), (answer.request.url, shown)
    logged = (harness.log_dir / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert "Traceback" in logged  # the relay's crash went to the log, with its traceback
    assert not leaks(logged)
    assert not leaks(caplog.text)
    console = capfd.readouterr()
    assert not leaks(console.out + console.err)
    # The backend did get its key, in the header it reads it from, and only there.
    sent = harness.fake.chat_requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert not leaks(orjson.dumps(sent.body).decode())


def test_a_key_echoed_by_the_backend_is_not_passed_on(harness: Harness) -> None:
    """Some servers quote the key they refuse; the gateway knows the key and must not relay it
    to the client, the record or the log."""
    quoted = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "auth_error"}}
    harness.fake.script(Error(401, quoted), Error(401, quoted))
    for stream in (False, True):
        response = harness.post({"x-api-key": TOKEN}, stream=stream)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
        assert not leaks(response.text), response.text
    for record in harness.records.wait(2):
        assert not leaks(repr(record))
    assert not leaks((harness.log_dir / LOG_FILE_NAME).read_text(encoding="utf-8"))


def test_config_and_log_files_are_the_users_alone(harness: Harness, tmp_path: Path) -> None:
    config_dir = tmp_path / "config" / "lmgate"
    path = save_config(harness.config, config_dir / "config.toml")
    save_config(harness.config.model_copy(update={"big": "other"}), path)  # keeps a .bak
    backup = path.with_name("config.toml.bak")
    for written in (path, backup):
        assert mode(written) == 0o600, written
        assert not leaks(written.read_text(encoding="utf-8"))
    assert mode(config_dir) == 0o700
    assert "LMGATE_TEST_KEY" in path.read_text(encoding="utf-8")  # the variable's name only

    assert harness.post({"x-api-key": TOKEN}).status_code == 200
    harness.records.wait(1)
    log = harness.log_dir / LOG_FILE_NAME
    assert mode(log) == 0o600
    assert mode(harness.log_dir) == 0o700 and mode(harness.log_dir.parent) == 0o700
