"""Prometheus metrics of partner calls: how often each partner is called, how it answered, how long it took.
Labels are partner IDs and outcome codes only, never anything about a customer."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PARTNER_CALLS = Counter("vcv_partner_calls_total", "Batch calls to a partner (after retries), by outcome: ok or "
                        "the PARTNER_* error code.", ["partner", "outcome"])
PARTNER_SECONDS = Histogram("vcv_partner_call_seconds", "Duration of a batch call to a partner, retries included.",
                            ["partner"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
PARTNER_CONTRACTS = Counter("vcv_partner_contracts_total", "Contracts asked for in batch calls.", ["partner"])
PARTNER_CIRCUIT = Gauge("vcv_partner_circuit_state", "Circuit breaker per partner: 0 closed, 1 half-open "
                        "(one trial call allowed), 2 open (failing fast); with several workers, the worst one's.",
                        ["partner"], multiprocess_mode="livemax")
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
