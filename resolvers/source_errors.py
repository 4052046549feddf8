"""Failures of a partner call, as the caller sees them (SPEC §8): a stable code plus the partner's ID.
Messages never carry URLs, hostnames or the partner's own error text."""

from __future__ import annotations

PARTNER_CODES = ("PARTNER_TIMEOUT", "PARTNER_UNAVAILABLE", "PARTNER_CIRCUIT_OPEN", "PARTNER_BAD_RESPONSE")

_MESSAGES = {
    "PARTNER_TIMEOUT": "partner '{p}' did not answer in time",
    "PARTNER_UNAVAILABLE": "partner '{p}' is unavailable",
    "PARTNER_CIRCUIT_OPEN": "partner '{p}' is failing and is not being called for a while",
    "PARTNER_BAD_RESPONSE": "partner '{p}' sent a response that does not match its contract",
}


class PartnerError(Exception):
    def __init__(self, code: str, partner: str, detail: str = "", *, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        assert code in PARTNER_CODES, code
        self.code = code
        self.partner = partner
        # `detail` is for operators' logs only; it never reaches the response.
        self.detail = detail
        # Whether a second try could succeed (connection lost, 502/503/504, 429), and after how long the
        # partner asked us to wait (Retry-After, seconds).
        self.retryable = retryable
        self.retry_after = retry_after
        self.message = _MESSAGES[code].format(p=partner)
        self.extensions = {"code": code, "partner": partner}
        super().__init__(self.message)


class MasterUnavailable(Exception):
    """The customer master could not be read (database down, connection lost, timed out). Retryable: the
    caller gets HTTP 503 and no data, never a view with the customer silently missing."""

    code = "MASTER_UNAVAILABLE"

    def __init__(self, detail: str = "") -> None:
        self.detail = detail  # for operators' logs only: may name hosts or SQL
        self.message = "the customer master cannot be read right now; try again shortly"
        self.extensions = {"code": self.code}
        super().__init__(self.message)
