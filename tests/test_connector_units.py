"""The pieces of a partner connector on their own, beside the loopback tests that run them against real
partner servers (test_gateway_resilience, test_gateway_faults): the circuit breaker and the retry rules on
a clock the test turns by hand, and the mapping from a partner's record to the joint model."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tenacity import RetryCallState

from resolvers.connectors.breaker import BreakerSettings, CircuitBreaker
from resolvers.connectors.mapping import BadRecord, RecordMapping, partner_fields, to_joint
from resolvers.connectors.partners_file import load
from resolvers.connectors.retry import RetryBudget, RetrySettings, backoff, should_retry
from resolvers.source_errors import PartnerError
from resolvers.values import MoneyValue

BANK = load(Path(__file__).resolve().parent.parent / "fixtures" / "partners.yaml",
            allow_missing_env=True).partners["bank"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- circuit breaker ---------------------------------------------------------------------------------------

def test_the_breaker_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=3, cooldown_s=10), clock)
    breaker.failure()
    breaker.failure()
    breaker.success()  # a success in between: the count starts again
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()


def test_after_the_cool_down_exactly_one_trial_goes_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=1, cooldown_s=10), clock)
    breaker.failure()
    clock.now += 9.9
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 0.1
    assert breaker.state == "half_open"
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # everyone else waits for its outcome


def test_a_failed_trial_reopens_for_a_full_cool_down_and_a_good_one_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=5, cooldown_s=10), clock)
    for _ in range(5):
        breaker.failure()
    clock.now += 10
    assert breaker.allow()
    breaker.failure()  # one failed trial is enough, whatever the threshold
    clock.now += 9
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 1
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
    for _ in range(4):
        breaker.failure()
    assert breaker.state == "closed"  # the count was reset by the good trial


# --- retries -----------------------------------------------------------------------------------------------

def _failed(error: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.set_exception((type(error), error, None))
    return state


def _unavailable(retry_after: float | None = None) -> PartnerError:
    return PartnerError("PARTNER_UNAVAILABLE", "bank", retryable=True, retry_after=retry_after)


def test_the_budget_allows_the_reserve_then_a_fraction_of_first_tries() -> None:
    budget = RetryBudget(RetrySettings(budget_ratio=0.2, budget_reserve=3))
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    for _ in range(4):
        budget.record_try()
    assert not budget.take()  # 0.8 of a token
    budget.record_try()
    assert budget.take() and not budget.take()


def test_the_budget_saved_up_while_quiet_is_capped() -> None:
    budget = RetryBudget(RetrySettings(budget_ratio=0.2, budget_reserve=3))
    for _ in range(10_000):
        budget.record_try()
    assert sum(budget.take() for _ in range(100)) == 5  # reserve 3 + 10 x ratio, not 2,000


def test_only_retryable_partner_failures_are_retried() -> None:
    clock = Clock()
    decide = should_retry(RetryBudget(RetrySettings()), deadline=clock.now + 5, clock=clock)
    assert decide(_failed(_unavailable()))
    assert not decide(_failed(PartnerError("PARTNER_BAD_RESPONSE", "bank")))  # a second try would say the same
    assert not decide(_failed(ValueError("a bug, not a partner failure")))
    ok = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    ok.set_result("fine")
    assert not decide(ok)


def test_no_retry_that_cannot_finish_before_the_deadline() -> None:
    clock = Clock()
    budget = RetryBudget(RetrySettings(budget_reserve=3))
    decide = should_retry(budget, deadline=clock.now + 2, clock=clock)
    assert not decide(_failed(_unavailable(retry_after=2.5)))  # the partner asks us to wait past the deadline
    assert decide(_failed(_unavailable(retry_after=1.5)))
    clock.now += 2
    assert not decide(_failed(_unavailable()))
    assert [budget.take() for _ in range(3)] == [True, True, False]  # refused retries spent nothing


def test_no_retry_once_the_budget_is_spent() -> None:
    clock = Clock()
    decide = should_retry(RetryBudget(RetrySettings(budget_reserve=1)), deadline=clock.now + 5, clock=clock)
    assert decide(_failed(_unavailable()))
    assert not decide(_failed(_unavailable()))


def test_backoff_honours_retry_after_else_waits_a_short_jitter() -> None:
    assert backoff(_failed(_unavailable(retry_after=1.25))) == 1.25
    waits = [backoff(_failed(_unavailable())) for _ in range(50)]
    assert all(0 <= w <= 0.2 for w in waits) and len(set(waits)) > 1


# --- mapping -----------------------------------------------------------------------------------------------

def _account(**fields: Any) -> dict[str, Any]:
    return {"contract_id": "BNK-00000001", "product_code": "GIRO", "iban": "DE89370400440532013000",
            "balance": {"amount": "1234.56", "currency": "EUR"}, "interest_rate": 0.5,
            "transactions": [{"booked_on": "2026-01-02", "amount": {"amount": "-12.30", "currency": "EUR"},
                              "counterparty": "Bakery", "reference": "R-1", "internal_flag": True}],
            "internal_risk_score": 7, **fields}


def test_a_record_is_mapped_to_the_joint_names_and_types() -> None:
    values = to_joint(BANK, _account(), ["iban", "balance", "interestRate", "recentTransactions"])
    assert (values.contract_id, values.partner_id, values.product_type) == ("BNK-00000001", "bank",
                                                                            "CURRENT_ACCOUNT")
    assert values.values == {
        "iban": "DE89370400440532013000", "balance": MoneyValue(Decimal("1234.56"), "EUR"), "interestRate": 0.5,
        "recentTransactions": [{"bookingDate": date(2026, 1, 2), "amount": MoneyValue(Decimal("-12.30"), "EUR"),
                                "counterparty": "Bakery", "reference": "R-1"}]}


def test_only_wanted_fields_of_the_contracts_own_type_travel_on() -> None:
    values = to_joint(BANK, _account(outstanding={"amount": "5", "currency": "EUR"}), ["iban", "outstanding",
                                                                                         "nonsense"])
    assert values.values == {"iban": "DE89370400440532013000"}  # outstanding is a Loan's, not an account's
    assert "internal_risk_score" not in repr(values)  # the partner's extra fields stop here


def test_one_mapping_serves_every_selection_and_every_record_of_a_list() -> None:
    # A connector keeps one RecordMapping and converts every record with the plan made for (contract type, fields
    # wanted): a second selection must get its own fields, and each item of a list its own values.
    mapping = RecordMapping(BANK, max_plans=2)
    second = {"booked_on": "2026-01-03", "amount": {"amount": "40", "currency": "CHF"}, "counterparty": None,
              "reference": "R-2"}
    record = _account(transactions=[*_account()["transactions"], second])
    seen = [mapping.to_joint(record, frozenset(wanted)).values
            for wanted in ({"iban"}, {"balance"}, {"interestRate", "recentTransactions"}, {"iban"})]
    assert seen[0] == seen[3] == {"iban": "DE89370400440532013000"}
    assert seen[1] == {"balance": MoneyValue(Decimal("1234.56"), "EUR")}
    assert seen[2]["interestRate"] == 0.5
    assert [t["bookingDate"] for t in seen[2]["recentTransactions"]] == [date(2026, 1, 2), date(2026, 1, 3)]
    assert seen[2]["recentTransactions"][1] == {"bookingDate": date(2026, 1, 3),
                                                "amount": MoneyValue(Decimal("40"), "CHF"),
                                                "counterparty": None, "reference": "R-2"}
    with pytest.raises(BadRecord, match="field 'transactions' has the wrong type"):
        mapping.to_joint(_account(transactions=[second, "not an object"]), frozenset({"recentTransactions"}))


def test_a_missing_value_is_null_not_an_error() -> None:
    record = _account()
    del record["iban"]
    assert to_joint(BANK, record, ["iban"]).values == {"iban": None}


@pytest.mark.parametrize(("change", "message"), [
    ({"balance": {"amount": 1234.56, "currency": "EUR"}}, "BNK-00000001: field 'balance' has the wrong type"),
    ({"balance": {"amount": "NaN", "currency": "EUR"}}, "BNK-00000001: field 'balance' has the wrong type"),
    ({"balance": {"amount": "1", "currency": "euro"}}, "BNK-00000001: field 'balance' has the wrong type"),
    ({"iban": 12345}, "BNK-00000001: field 'iban' has the wrong type"),
    ({"interest_rate": True}, "BNK-00000001: field 'interest_rate' has the wrong type"),
    ({"product_code": "XXX"}, "BNK-00000001: unknown product code in 'product_code'"),
    ({"contract_id": 7}, "'contract_id' is missing or not a string"),
])
def test_a_record_that_does_not_fit_is_refused_naming_the_field_never_the_value(change: dict[str, Any],
                                                                                 message: str) -> None:
    with pytest.raises(BadRecord) as refused:
        to_joint(BANK, _account(**change), ["iban", "balance", "interestRate"])
    assert str(refused.value) == message


def test_a_record_that_is_no_object_is_refused() -> None:
    with pytest.raises(BadRecord, match="record is not an object"):
        to_joint(BANK, ["BNK-00000001"], ["iban"])


def test_the_partner_is_asked_for_its_own_names_of_the_wanted_fields() -> None:
    assert partner_fields(BANK, ["recentTransactions", "balance", "iban", "balance", "healthClass"]) == [
        "balance", "iban", "transactions"]
