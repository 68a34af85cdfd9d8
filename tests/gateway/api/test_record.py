"""The draft of a request's record: filled in as the request runs, published once as a bounded copy
(every client string cut, bodies left to capture's own limit)."""

from __future__ import annotations

from gateway.api.record import ITEMS_LIMIT, NAME_LIMIT, TEXT_LIMIT, RecordDraft, bounded
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


def test_every_string_is_cut_and_says_how_much_was_left_out() -> None:
    body = {"messages": [{"content": "b" * 100_000}]}
    record = RequestRecord(
        request_id="req_1",
        started_at=0.0,
        method="P" * 1000,
        path="/" + "p" * 10_000,
        session="s" * 1000,
        client_model="m" * 100_000,
        backend_model="b" * 1000,
        route_rule="r" * 1000,
        stop_reason="x" * 1000,
        changes=tuple(f"change {i} " + "c" * 5000 for i in range(200)),
        warnings=("w" * 5000,),
        error="e" * 100_000,
        request_body=body,
        response_body="a" * 100_000,
        extra={"headers": {"h" * 1000: "v" * 100_000, **{f"x-{i}": "1" for i in range(100)}}},
    )
    cut = bounded(record)
    for name in ("method", "path", "session", "client_model", "backend_model", "route_rule"):
        value = getattr(cut, name)
        assert len(value) <= NAME_LIMIT + 40 and value.endswith(" more characters)"), name
    assert cut.client_model == "m" * NAME_LIMIT + f"… ({100_000 - NAME_LIMIT:,} more characters)"
    assert cut.error is not None and len(cut.error) <= TEXT_LIMIT + 40
    assert len(cut.changes) == ITEMS_LIMIT + 1 and cut.changes[-1] == "… 150 more"
    assert all(len(c) <= TEXT_LIMIT + 40 for c in cut.changes)
    assert len(cut.warnings[0]) <= TEXT_LIMIT + 40
    headers = cut.extra["headers"]
    assert len(headers) == ITEMS_LIMIT + 1
    assert all(len(k) <= NAME_LIMIT + 40 and len(v) <= TEXT_LIMIT + 40 for k, v in headers.items())
    # Captured bodies are what capture is for; capture_max_bytes bounds them.
    assert cut.request_body is body and cut.response_body == "a" * 100_000


def test_a_record_within_the_limits_is_the_same_object() -> None:
    record = RequestRecord(
        request_id="req_1",
        started_at=0.0,
        method="POST",
        path="/v1/messages",
        client_model="claude-sonnet-4-6",
        warnings=("a note",),
        extra={"headers": {"host": "127.0.0.1"}, "refused": True},
    )
    assert bounded(record) is record
