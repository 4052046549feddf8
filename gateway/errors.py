"""Errors a caller is meant to see. Each carries a stable `extensions.code`; anything else that escapes a
resolver is masked (no stack traces, hostnames, URLs or SQL in responses)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from resolvers import MasterUnavailable, PartnerError


class VcvError(Exception):
    """An error whose message and code are safe to show to the caller."""

    code = "INTERNAL"
    http_status = 200

    def __init__(self, message: str, *, code: str | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extensions = {"code": self.code, **extensions}

    def as_graphql(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": self.extensions}


class AuthError(VcvError):
    code = "UNAUTHENTICATED"
    http_status = 401


class PurposeError(VcvError):
    http_status = 403

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.http_status = 400 if code == "PURPOSE_REQUIRED" else 403


class Forbidden(VcvError):
    code = "FORBIDDEN"


class CustomerNotFound(VcvError):
    code = "CUSTOMER_NOT_FOUND"

    def __init__(self, customer_id: str) -> None:
        # Same words whether the customer does not exist or the caller may not see it: no existence oracle.
        super().__init__(f"no customer '{customer_id[:40]}' is visible to you")


class BadRequest(VcvError):
    code = "BAD_REQUEST"
    http_status = 400


def is_safe(error: GraphQLError) -> bool:
    """True for errors the caller may read verbatim: ours, and GraphQL's own parse, validation and input
    coercion errors (`Variable '$id' got invalid value …`), which describe only what the caller sent."""
    original = error.original_error
    return original is None or isinstance(original, VcvError | PartnerError | MasterUnavailable | GraphQLError)
