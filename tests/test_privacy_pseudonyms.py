"""Pseudonym keys (environment or key directory, demo generation) and the pseudonyms they produce."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.pseudonyms import PseudonymKeyError, PseudonymKeys, ensure_demo_pseudonym_keys, env_name
from privacy.treatments import PSEUDONYMIZE, apply

FORMAT = re.compile(r"^PSN-[A-Z2-7]{16}$")
customer_ids = st.integers(min_value=1, max_value=999_999).map(lambda n: f"C-{n:06d}")


def test_keys_come_from_the_environment_before_the_directory(tmp_path: Path) -> None:
    (tmp_path / "rm.key").write_text("11" * 32 + "\n")
    (tmp_path / "bank.key").write_text("22" * 32)
    keys = PseudonymKeys.load(["rm", "bank"], directory=tmp_path, environ={"VCV_PSEUDONYM_KEY_RM": "33" * 16})
    assert keys.get("rm") == bytes.fromhex("33" * 16)
    assert keys.get("bank") == bytes.fromhex("22" * 32)
    assert "rm" in keys and "life" not in keys
    assert keys.get("life") is None


def test_missing_malformed_or_short_keys_stop_start_up_naming_where_to_put_them(tmp_path: Path) -> None:
    (tmp_path / "bank.key").write_text("not hex")
    with pytest.raises(PseudonymKeyError) as caught:
        PseudonymKeys.load(["rm", "bank", "life"], directory=tmp_path, environ={"VCV_PSEUDONYM_KEY_LIFE": "ab" * 16})
    message = str(caught.value)
    assert f"no pseudonym key for rm: set $VCV_PSEUDONYM_KEY_RM or {tmp_path / 'rm.key'}" in message
    assert f"the pseudonym key for bank in {tmp_path / 'bank.key'} is not hex" in message
    assert "life" not in message  # 16 bytes is enough
    with pytest.raises(PseudonymKeyError, match="shorter than 16 bytes"):
        PseudonymKeys.load(["rm"], environ={"VCV_PSEUDONYM_KEY_RM": "ab" * 15})
    with pytest.raises(PseudonymKeyError, match="the pseudonym key of rm is shorter than 16 bytes"):
        PseudonymKeys({"rm": b"k" * 15})


def test_env_names_are_upper_case_with_underscores() -> None:
    assert env_name("property") == "VCV_PSEUDONYM_KEY_PROPERTY"
    assert env_name("bank-2") == "VCV_PSEUDONYM_KEY_BANK_2"


def test_demo_keys_are_generated_once_private_and_never_replaced(tmp_path: Path) -> None:
    directory = ensure_demo_pseudonym_keys(tmp_path / "keys", ["rm", "bank"])
    first = (directory / "rm.key").read_text()
    assert stat.S_IMODE((directory / "rm.key").stat().st_mode) == 0o600
    ensure_demo_pseudonym_keys(directory, ["rm", "bank", "life"])
    assert (directory / "rm.key").read_text() == first
    keys = PseudonymKeys.load(["rm", "bank", "life"], directory=directory, environ={})
    assert len({keys.get(o) for o in ("rm", "bank", "life")}) == 3
    assert len(keys.get("rm") or b"") == 32


@settings(max_examples=50)
@given(customer_ids, st.binary(min_size=16, max_size=32), st.binary(min_size=16, max_size=32))
def test_pseudonyms_are_stable_per_agreement_and_differ_across_agreements(value: str, key_a: bytes,
                                                                          key_b: bytes) -> None:
    a = apply(PSEUDONYMIZE, value, "id", key=key_a)
    assert a == apply(PSEUDONYMIZE, value, "id", key=key_a)
    assert FORMAT.match(a) and len(a) == 20
    assert a != value
    if key_a != key_b:
        assert a != apply(PSEUDONYMIZE, value, "id", key=key_b)


def test_distinct_customers_get_distinct_pseudonyms() -> None:
    key = bytes(range(32))
    pseudonyms = {apply(PSEUDONYMIZE, f"C-{n:06d}", "id", key=key) for n in range(1, 5001)}
    assert len(pseudonyms) == 5000


@settings(max_examples=50)
@given(customer_id=customer_ids)
def test_each_consumer_gets_its_own_stable_pseudonyms(customer_id: str) -> None:
    keys = PseudonymKeys({"rm": bytes.fromhex("44" * 32)})
    bank, life = (apply(PSEUDONYMIZE, customer_id, "id", key=keys.for_consumer("rm", c)) for c in ("bank", "life"))
    assert FORMAT.match(bank) and FORMAT.match(life) and bank != life
    assert bank == apply(PSEUDONYMIZE, customer_id, "id", key=keys.for_consumer("rm", "bank"))
    assert keys.for_consumer("invest", "bank") is None  # an owner without a key pseudonymises nothing
