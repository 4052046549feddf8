"""bench.run's "where the time went" figures, read from the gateway's own timers on /metrics: the means it
reports for a level are the requests', the slowest partner's and the audit commits' of that level only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.run import timers_of, went_text, where_time_went
from gateway.metrics import REQUEST_SECONDS
from privacy.audit.store import COMMIT_SECONDS
from resolvers.connectors.partner_metrics import PARTNER_SECONDS


def _gateway_metrics() -> tuple[CollectorRegistry, Histogram, Histogram, Histogram]:
    # The gateway's own metric names (a renamed one must fail here, not leave the bench silently without it).
    registry = CollectorRegistry()
    requests = Histogram(REQUEST_SECONDS._name, "requests", ["operation"], registry=registry)
    partners = Histogram(PARTNER_SECONDS._name, "partner calls", ["partner"], registry=registry)
    commits = Histogram(COMMIT_SECONDS._name, "audit commits", registry=registry)
    return registry, requests, partners, commits


def test_a_level_is_told_apart_from_what_came_before_it() -> None:
    registry, requests, partners, commits = _gateway_metrics()
    requests.labels("adhoc").observe(0.5)  # the warm-up: not the level's
    partners.labels("bank").observe(0.4)
    commits.observe(0.3)
    before = timers_of(generate_latest(registry).decode())

    for _ in range(2):  # the level: two views, four partner calls each, one commit for both events
        requests.labels("adhoc").observe(0.035)
        partners.labels("bank").observe(0.0315)
        partners.labels("life").observe(0.0325)
        partners.labels("property").observe(0.031)
        partners.labels("invest").observe(0.031)
    commits.observe(0.002)
    went = where_time_went(before, timers_of(generate_latest(registry).decode()), latency_ms=30)

    assert went == {"gateway_request_mean_ms": 35.0, "slowest_partner_mean_over_latency_ms": 2.5,
                    "audit_commit_mean_ms": 2.0, "audit_events_per_commit": 2.0}
    assert went_text(went, 30) == ("35.0 ms inside the gateway (its request log's timer): of it the slowest partner's "
                               "calls 30 + 2.5 ms, an audit commit 2.0 ms (2.0 events each)")


def test_a_gateway_without_an_audit_commit_in_the_level_says_nothing_of_one() -> None:
    registry, requests, partners, _commits = _gateway_metrics()
    before = timers_of(generate_latest(registry).decode())
    requests.labels("adhoc").observe(0.031)
    partners.labels("bank").observe(0.0305)
    went = where_time_went(before, timers_of(generate_latest(registry).decode()), latency_ms=30)

    assert went == {"gateway_request_mean_ms": 31.0, "slowest_partner_mean_over_latency_ms": 0.5}
    assert went_text(went, 30) == "31.0 ms inside the gateway (its request log's timer): of it the slowest partner's " \
                              "calls 30 + 0.5 ms"
