"""A PDF that a Claude Code session sends on every turn (its Read's tool result) is extracted once
by the gateway: the prompt count, the translation and the next turns read it from the cache."""

from __future__ import annotations

from typing import Any

import orjson

from tests.fakes.replies import Text
from tests.gateway.api.client import Gateway, Start, message_of, post, start_pair
from tests.paths import REPO

FIXTURE = (
    REPO / "tests" / "fixtures" / "claude-code" / "claude-code-2.1.332-print-read-pdf-turn2.json"
)


def test_a_pdf_sent_on_every_turn_is_extracted_once(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    body: dict[str, Any] = orjson.loads(FIXTURE.read_bytes())["body"]
    backend, server, _ = start_pair(
        fake_backend, gateway_server, "lmstudio", fake={"context_length": 131072}
    )
    backend.script(Text(text="Read it."), Text(text="Still there."))
    for _ in range(2):
        message_of(post(server, body))
    counted = post(
        server, {k: body[k] for k in ("model", "messages")}, path="/v1/messages/count_tokens"
    )
    assert counted.status_code == 200, counted.text
    state = server.app_state
    assert state is not None
    assert state.pdf_texts.extractions == 1 and len(state.pdf_texts) == 1
    # The model got the PDF's text on both turns.
    for request in backend.chat_requests:
        sent = orjson.dumps(request.body["messages"]).decode()
        assert "<document index=" in sent and "[page 1]" in sent
