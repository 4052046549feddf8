"""How one field value is treated before a consumer sees it, and which treatment is more restrictive.

Every treatment keeps the field's GraphQL type valid: a masked string is still a string, a generalised
amount is still an exact Decimal in the same currency, a pseudonym is still an ID-shaped string, and a
redacted value is null (every governed field is nullable, SPEC §3).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

# Least to most restrictive. Between allow and redact, the rank follows how much of the original value
# survives: a generalised value keeps its magnitude, a mask keeps a fragment, a pseudonym keeps nothing
# of the value (only that two occurrences are equal).
RESTRICTIVENESS = ("allow", "generalize", "mask", "pseudonymize", "redact")
# Mask variants, least to most restrictive: the e-mail mask keeps the whole domain, last4 keeps four
# characters, initials keep one letter per word, full keeps nothing.
MASK_VARIANTS = ("email", "last4", "initials", "full")
# Date generalisation units, least to most restrictive.
DATE_UNITS = ("month", "year")

# `pseudonymize` always uses one key per (owner, consumer) (privacy/pseudonyms.py), so two consumers under the
# same agreement see different pseudonyms; `{pseudonymize: {per: consumer}}` is the older explicit spelling.
PER_CONSUMER = "consumer"

FULL_MASK = "***"
PSEUDONYM_PREFIX = "PSN-"
PSEUDONYM_BYTES = 10  # 80 bits: 16 base32 characters without padding, collision-free at alliance scale

_NUMERIC_KINDS = frozenset({"float", "decimal", "money", "int"})
_FITS: dict[str, frozenset[str] | None] = {  # None: every kind
    "allow": None,
    "redact": None,
    "mask": frozenset({"string"}),
    "pseudonymize": frozenset({"id", "string"}),
}


@dataclass(frozen=True, slots=True)
class Treatment:
    """A treatment and its parameter: the mask variant, the generalisation step (Decimal) or date unit."""

    kind: str
    param: str | Decimal | None = None

    def __post_init__(self) -> None:
        if self.kind not in RESTRICTIVENESS:
            raise ValueError(f"unknown treatment {self.kind!r}; expected one of {', '.join(RESTRICTIVENESS)}")
        if self.kind == "mask":
            if self.param not in MASK_VARIANTS:
                raise ValueError(f"mask needs a variant: {', '.join(MASK_VARIANTS)}")
        elif self.kind == "generalize":
            if isinstance(self.param, Decimal):
                if not self.param.is_finite() or self.param <= 0:
                    raise ValueError("a generalisation step must be a positive number")
            elif self.param not in DATE_UNITS:
                raise ValueError(f"generalize needs a positive step or a date unit ({', '.join(DATE_UNITS)})")
        elif self.kind == "pseudonymize":
            if self.param not in (None, PER_CONSUMER):
                raise ValueError(f"pseudonymize is per agreement, or per {PER_CONSUMER}")
        elif self.param is not None:
            raise ValueError(f"{self.kind} takes no parameter")

    def __str__(self) -> str:
        if self.kind == "mask":
            return f"mask {self.param}"
        if self.kind == "generalize":
            return f"generalize step {self.param}" if isinstance(self.param, Decimal) else f"generalize to {self.param}"
        if self.kind == "pseudonymize" and self.param == PER_CONSUMER:
            return f"pseudonymize per {PER_CONSUMER}"
        return self.kind

    @property
    def sort_key(self) -> tuple[Any, ...]:
        """Total order on treatments; a greater key is more restrictive. A bigger step or a coarser date
        unit is more restrictive; steps and date units never apply to the same field, the middle element
        only keeps the order total."""
        rank = RESTRICTIVENESS.index(self.kind)
        if self.kind == "mask":
            return (rank, 0, MASK_VARIANTS.index(str(self.param)))
        if self.kind == "generalize":
            if isinstance(self.param, Decimal):
                return (rank, 0, self.param)
            return (rank, 1, DATE_UNITS.index(str(self.param)))
        if self.kind == "pseudonymize":
            return (rank, 0, 1 if self.param == PER_CONSUMER else 0)  # per consumer also unlinks consumers
        return (rank, 0, 0)


ALLOW = Treatment("allow")
REDACT = Treatment("redact")
PSEUDONYMIZE = Treatment("pseudonymize")


def fits(treatment: Treatment, kind: str) -> bool:
    """Whether the treatment keeps a field of this kind type-valid. Lists and objects: allow or redact."""
    if treatment.kind == "generalize":
        if isinstance(treatment.param, Decimal):
            return kind in _NUMERIC_KINDS
        return kind == "date"
    allowed = _FITS[treatment.kind]
    return allowed is None or kind in allowed


def fitting_kinds(treatment: Treatment) -> str:
    """Human wording of which kinds a treatment applies to, for error messages."""
    if treatment.kind == "generalize":
        return "number and money fields" if isinstance(treatment.param, Decimal) else "date fields"
    allowed = _FITS[treatment.kind]
    return "every field" if allowed is None else " and ".join(sorted(allowed)) + " fields"


def apply(treatment: Treatment, value: Any, kind: str, *, key: bytes | None = None) -> Any:
    """The value as the consumer sees it. `kind` is the field's catalogue kind; `key` is the owning
    agreement's pseudonym key (needed for pseudonymize only). Null stays null under every treatment."""
    if not fits(treatment, kind):
        raise ValueError(f"{treatment} does not fit a {kind} field")
    if value is None or treatment.kind == "allow":
        return value
    if treatment.kind == "redact":
        return None
    if treatment.kind == "mask":
        return mask(_require(value, str, treatment), str(treatment.param))
    if treatment.kind == "pseudonymize":
        if key is None:
            raise ValueError("pseudonymize needs the agreement's pseudonym key")
        if isinstance(value, int | str) and not isinstance(value, bool):
            return pseudonym(str(value), key)
        raise TypeError(f"pseudonymize applies to identifiers, not {type(value).__name__}")
    if isinstance(treatment.param, Decimal):
        return _generalize_number(value, treatment.param, kind)
    return _generalize_date(_require(value, date, treatment), str(treatment.param))


def mask(text: str, variant: str) -> str:
    if variant == "last4":
        # Spaces in formatted IBANs or phone numbers are not information; a fixed-width prefix hides the
        # length. Four characters or fewer would be shown whole, so they are masked completely.
        compact = "".join(text.split())
        return "****" + compact[-4:] if len(compact) > 4 else FULL_MASK
    if variant == "email":
        local, at, domain = text.rpartition("@")
        return f"{local[0]}***@{domain}" if at and local and domain else FULL_MASK
    if variant == "initials":
        return " ".join("-".join(f"{part[0]}." for part in word.split("-") if part) for word in text.split())
    return FULL_MASK


def pseudonym(value: str, key: bytes) -> str:
    """Keyed HMAC-SHA256: stable for one key, unrelated across keys, not invertible without the key."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return PSEUDONYM_PREFIX + base64.b32encode(digest[:PSEUDONYM_BYTES]).decode("ascii")


def floor_to_step(amount: Decimal, step: Decimal) -> Decimal:
    """Round down (towards minus infinity, so bins are equally wide on both sides of zero) to a multiple
    of step, keeping the finer of the two exponents so 30011.00 with step 1000 reads 30000.00."""
    if not amount.is_finite():
        raise ValueError("only finite numbers can be generalised")
    floored = (amount / step).to_integral_value(rounding=ROUND_FLOOR) * step
    exponent = min(_exponent(amount), _exponent(step))
    return floored.quantize(Decimal(1).scaleb(exponent))


def _exponent(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _generalize_number(value: Any, step: Decimal, kind: str) -> Any:
    if kind == "money" or (hasattr(value, "amount") and hasattr(value, "currency")):
        amount = getattr(value, "amount", None)
        if amount is None or not dataclasses.is_dataclass(value) or isinstance(value, type):
            raise TypeError(f"money must be a dataclass with amount and currency, not {type(value).__name__}")
        return dataclasses.replace(value, amount=floor_to_step(Decimal(amount), step))
    if isinstance(value, bool):
        raise TypeError("a boolean cannot be generalised")
    if isinstance(value, Decimal):
        return floor_to_step(value, step)
    if isinstance(value, int):
        floored = floor_to_step(Decimal(value), step)
        return int(floored) if floored == floored.to_integral_value() else float(floored)
    if isinstance(value, float):
        # Through Decimal of the shortest repr, so 0.3 with step 0.1 stays 0.3 instead of 0.2.
        return float(floor_to_step(Decimal(repr(value)), step))
    raise TypeError(f"generalize with a step applies to numbers and money, not {type(value).__name__}")


def _generalize_date(value: date, unit: str) -> date:
    day = value.date() if isinstance(value, datetime) else value
    return day.replace(month=1, day=1) if unit == "year" else day.replace(day=1)


def _require(value: Any, expected: type, treatment: Treatment) -> Any:
    if not isinstance(value, expected):
        raise TypeError(f"{treatment} applies to {expected.__name__} values, not {type(value).__name__}")
    return value
