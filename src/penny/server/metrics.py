"""Prometheus metrics, one registry per app so tests (and several apps in one process) stay apart."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from penny.core.events import TurnTrace

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.turns = Counter("penny_turns", "Finished turns.", ["channel", "interrupted"], registry=r)
        self.stage_latency = Histogram(
            "penny_stage_latency_seconds", "Time from the end of the user's speech to each stage of a turn.",
            ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.backend_failures = Counter(
            "penny_backend_failures", "LLM backends that failed and were switched away from.", ["backend"],
            registry=r)
        self.errors = Counter("penny_errors", "Error events sent to clients, by code.", ["code"], registry=r)
        self.ws_active = Gauge("penny_ws_connections", "Open WebSocket connections.", registry=r)
        self.ws_opened = Counter("penny_ws_connections_opened", "WebSocket connections accepted.", registry=r)
        self.ws_closed = Counter("penny_ws_closed", "WebSocket connections closed by the server, by reason.",
                                 ["reason"], registry=r)
        self.http_requests = Counter("penny_http_requests", "API requests, by endpoint and status.",
                                     ["endpoint", "status"], registry=r)

    def observe_trace(self, trace: TurnTrace | dict, channel: str = "voice") -> None:
        data = trace.to_dict() if isinstance(trace, TurnTrace) else trace
        self.turns.labels(channel, str(bool(data.get("interrupted"))).lower()).inc()
        for stage, ms in (data.get("ms") or {}).items():
            if stage != "speech_end" and isinstance(ms, (int, float)) and ms >= 0:
                self.stage_latency.labels(stage).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
