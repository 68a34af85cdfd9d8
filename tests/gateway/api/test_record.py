"""The draft of a request's record: filled in as the request runs, published once as a copy."""

from __future__ import annotations

from gateway.api.record import RecordDraft
from gateway.events import EventBus, RequestRecord


def test_a_draft_publishes_one_record_that_later_writes_do_not_change() -> None:
    bus = EventBus()
    got: list[RequestRecord] = []
    bus.subscribe(got.append)
    draft = RecordDraft("req_1", "POST", "/v1/messages", client_model="claude-x")
    draft.status = 200
    draft.changes.append("metadata dropped")
    draft.extra["protocol"] = "openai"
    draft.usage = {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 4}
    draft.publish(bus)
    draft.publish(bus)
    draft.status = 499
    draft.changes.append("late")
    draft.extra["late"] = True
    assert len(got) == 1
    record = got[0]
    assert type(record) is RequestRecord
    assert (record.request_id, record.client_model, record.status) == ("req_1", "claude-x", 200)
    assert (record.input_tokens, record.output_tokens, record.cached_tokens) == (10, 3, 4)
    assert record.changes == ("metadata dropped",)
    assert record.extra == {"protocol": "openai"}
    assert record.latency_ms >= 0
