"""Treatments on values: each treatment on each kind it fits, the type it keeps, and its restrictiveness."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.treatments import (
    ALLOW,
    PSEUDONYMIZE,
    REDACT,
    RESTRICTIVENESS,
    Treatment,
    apply,
    fits,
)


@dataclass(frozen=True, slots=True)
class Money:  # the shape resolvers.values.Money has: a dataclass with amount and currency
    amount: Decimal
    currency: str


KEY = bytes(range(32))
PSEUDONYM = re.compile(r"^PSN-[A-Z2-7]{16}$")


def step(n: str) -> Treatment:
    return Treatment("generalize", Decimal(n))


@pytest.mark.parametrize(("kind", "value"), [
    ("string", "DE89370400440532013000"), ("id", "C-000001"), ("float", 3.75), ("decimal", Decimal("12.5")),
    ("date", date(1980, 5, 17)), ("money", Money(Decimal("30011.00"), "EUR")), ("object", {"city": "Bonn"}),
    ("[string]", ["Anna", "Ben"]), ("[Transaction]", [{"amount": Money(Decimal("-5"), "EUR")}]),
])
def test_allow_returns_the_value_and_redact_returns_null_for_every_kind(kind: str, value: object) -> None:
    assert apply(ALLOW, value, kind) is value
    assert apply(REDACT, value, kind) is None


@pytest.mark.parametrize(("variant", "value", "shown"), [
    ("last4", "DE89370400440532013000", "****3000"),
    ("last4", "DE89 3704 0044 0532 0130 00", "****3000"),  # formatting spaces are not counted
    ("last4", "+49 171 5550123", "****0123"),
    ("last4", "1234", "***"),  # a value of four characters or less would be shown whole
    ("email", "jana.mueller@mail.example", "j***@mail.example"),
    ("email", "not-an-address", "***"),
    ("email", "@mail.example", "***"),
    ("initials", "Jana Maria", "J. M."),
    ("initials", "Anna-Lena Müller", "A.-L. M."),
    ("full", "Golf VIII, B-AL 1234", "***"),
])
def test_mask_variants_show_only_their_fragment(variant: str, value: str, shown: str) -> None:
    assert apply(Treatment("mask", variant), value, "string") == shown


def test_generalize_money_rounds_the_amount_down_and_keeps_currency_and_class() -> None:
    result = apply(step("1000"), Money(Decimal("30011.00"), "CHF"), "money")
    assert result == Money(Decimal("30000.00"), "CHF")
    assert type(result) is Money
    assert str(result.amount) == "30000.00"  # same scale as the original: still reads as money


def test_generalize_rounds_negative_amounts_down_not_towards_zero() -> None:
    # Towards zero would make the bin around 0 twice as wide as every other bin.
    assert apply(step("1000"), Money(Decimal("-1500.00"), "EUR"), "money").amount == Decimal("-2000.00")


@pytest.mark.parametrize(("kind", "value", "treatment", "expected"), [
    ("decimal", Decimal("12.75"), step("0.5"), Decimal("12.50")),
    ("float", 3.75, step("0.5"), 3.5),
    ("float", 0.3, step("0.1"), 0.3),  # exact in decimal, although 0.3 / 0.1 < 3 in binary floating point
    ("float", 7, step("5"), 5),
])
def test_generalize_numbers_to_a_step_keeps_their_python_type(kind: str, value: object, treatment: Treatment,
                                                               expected: object) -> None:
    result = apply(treatment, value, kind)
    assert result == expected
    assert type(result) is type(expected)


def test_generalize_dates_keeps_the_year_or_the_month() -> None:
    assert apply(Treatment("generalize", "year"), date(1980, 5, 17), "date") == date(1980, 1, 1)
    assert apply(Treatment("generalize", "month"), date(1980, 5, 17), "date") == date(1980, 5, 1)
    assert apply(Treatment("generalize", "year"), datetime(1980, 5, 17, 8, 30), "date") == date(1980, 1, 1)


@pytest.mark.parametrize("kind", ["id", "string"])
def test_pseudonymize_gives_an_id_shaped_string_for_ids_and_strings(kind: str) -> None:
    result = apply(PSEUDONYMIZE, "C-000001", kind, key=KEY)
    assert PSEUDONYM.match(result)
    assert result == apply(PSEUDONYMIZE, "C-000001", kind, key=KEY)


def test_pseudonymize_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        apply(PSEUDONYMIZE, "C-000001", "id")


@pytest.mark.parametrize("treatment", [Treatment("mask", "last4"), step("10"), Treatment("generalize", "year"),
                                       PSEUDONYMIZE, REDACT])
def test_null_stays_null_under_every_treatment(treatment: Treatment) -> None:
    kind = {"mask": "string", "pseudonymize": "id", "redact": "string"}.get(
        treatment.kind, "date" if treatment.param == "year" else "money")
    assert apply(treatment, None, kind, key=KEY) is None


@pytest.mark.parametrize(("treatment", "kind"), [
    (Treatment("mask", "last4"), "money"), (Treatment("mask", "email"), "id"), (Treatment("mask", "full"), "date"),
    (step("1000"), "string"), (step("1000"), "date"), (Treatment("generalize", "year"), "money"),
    (PSEUDONYMIZE, "money"), (PSEUDONYMIZE, "[string]"), (Treatment("mask", "last4"), "[Transaction]"),
])
def test_a_treatment_that_does_not_fit_the_kind_is_refused(treatment: Treatment, kind: str) -> None:
    assert not fits(treatment, kind)
    with pytest.raises(ValueError, match="does not fit"):
        apply(treatment, "x", kind, key=KEY)


def test_a_value_of_the_wrong_python_type_is_an_error_not_a_leak() -> None:
    with pytest.raises(TypeError):
        apply(Treatment("mask", "last4"), 12345678, "string")
    with pytest.raises(TypeError):
        apply(step("10"), "12345", "decimal")


@pytest.mark.parametrize(("kind", "param"), [("mask", None), ("mask", "first4"), ("generalize", Decimal(0)),
                                             ("generalize", "decade"), ("redact", "x"), ("hide", None)])
def test_malformed_treatments_cannot_be_built(kind: str, param: object) -> None:
    with pytest.raises(ValueError):
        Treatment(kind, param)  # type: ignore[arg-type]


def test_restrictiveness_is_allow_then_middle_then_redact_and_parameters_break_ties() -> None:
    assert RESTRICTIVENESS == ("allow", "generalize", "mask", "pseudonymize", "redact")
    ordered = [ALLOW, step("100"), step("1000"), Treatment("generalize", "month"), Treatment("generalize", "year"),
               Treatment("mask", "email"), Treatment("mask", "last4"), Treatment("mask", "initials"),
               Treatment("mask", "full"), PSEUDONYMIZE, REDACT]
    assert sorted(reversed(ordered), key=lambda t: t.sort_key) == ordered
    assert str(step("1000")) == "generalize step 1000"
    assert str(Treatment("mask", "last4")) == "mask last4"


amounts = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
steps = st.sampled_from(["0.5", "1", "10", "100", "1000", "2500"]).map(Decimal)


@given(amounts, steps)
def test_generalized_amounts_are_multiples_of_the_step_at_most_one_step_below(amount: Decimal, size: Decimal) -> None:
    result = apply(Treatment("generalize", size), Money(amount, "EUR"), "money").amount
    assert result % size == 0
    assert result <= amount < result + size


@given(st.text(min_size=1, max_size=40))
def test_last4_shows_at_most_the_last_four_characters(text: str) -> None:
    masked = apply(Treatment("mask", "last4"), text, "string")
    compact = "".join(text.split())
    assert masked == "***" if len(compact) <= 4 else masked == "****" + compact[-4:]
    assert apply(Treatment("mask", "full"), text, "string") == "***"


@given(st.text(max_size=60), st.binary(min_size=16, max_size=64))
def test_pseudonyms_have_one_format_whatever_the_input(value: str, key: bytes) -> None:
    result = apply(PSEUDONYMIZE, value, "id", key=key)
    assert PSEUDONYM.match(result)
    assert result != value
