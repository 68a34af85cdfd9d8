"""`/metrics` in Prometheus's text format (0.0.4), from this process's counters.

Counters per replica, as Prometheus expects: scrape each replica and sum (`sum by (client)`);
the shared figures across replicas are `lmgate usage`'s.
"""

from __future__ import annotations

import time
from collections import defaultdict

from gateway.events import RequestRecord

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NO_CLIENT = ""
_SERIES = (
    ("requests", "Requests to /v1/messages answered, by client key and model."),
    ("errors", "Of those, the ones answered with an error (or cut by the client)."),
    ("input_tokens", "Input tokens of those requests, as the answers reported them."),
    ("output_tokens", "Output tokens of those requests, as the answers reported them."),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        # (client, model) → [requests, errors, input tokens, output tokens]
        self._counts: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self._limited: defaultdict[tuple[str, str], int] = defaultdict(int)

    def add(self, record: RequestRecord) -> None:
        if record.path != "/v1/messages":
            return
        model = record.served_by
        counts = self._counts[(record.client or _NO_CLIENT, model)]
        counts[0] += 1
        counts[1] += record.status >= 400 or record.status == 0
        counts[2] += record.input_tokens or 0
        counts[3] += record.output_tokens or 0
        limit = record.extra.get("limit")
        if isinstance(limit, str):
            self._limited[(record.client or _NO_CLIENT, limit)] += 1

    def render(self) -> str:
        lines = [
            "# HELP lmgate_start_time_seconds When this gateway process started.",
            "# TYPE lmgate_start_time_seconds gauge",
            f"lmgate_start_time_seconds {self.started:.3f}",
        ]
        for index, (name, text) in enumerate(_SERIES):
            lines += [f"# HELP lmgate_{name}_total {text}", f"# TYPE lmgate_{name}_total counter"]
            for (client, model), counts in sorted(self._counts.items()):
                lines.append(
                    f'lmgate_{name}_total{{client="{_label(client)}",model="{_label(model)}"}} '
                    f"{counts[index]}"
                )
        lines += [
            "# HELP lmgate_rate_limited_total Requests refused for a client key's limit.",
            "# TYPE lmgate_rate_limited_total counter",
        ]
        for (client, limit), count in sorted(self._limited.items()):
            lines.append(
                f'lmgate_rate_limited_total{{client="{_label(client)}",limit="{limit}"}} {count}'
            )
        return "\n".join(lines) + "\n"
