"""Where a verified token says who the caller is: the claim mapping.

Identity providers each put roles and scopes somewhere else: Keycloak in `realm_access.roles`, Entra ID in
`roles` or `groups` (object IDs), Okta and Auth0 in a namespaced list, every one of them scopes in a
space-separated `scope` string. A `ClaimMapping` says, per thing the gateway needs (role, purposes, the
consultant/customer/partner ID), which claim to read and how to turn its values into ours. The defaults are
the mapping of the demo's own tokens (`vcv token`): top-level `role`, `purposes`, `consultant_id`, …
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.errors import AuthError, PurposeError
from privacy import ROLES

# The claim that ties each role to the rows it may see (SPEC §5).
ROLE_SUBJECT_CLAIM = {"consultant": "consultant_id", "customer": "customer_id", "partner": "partner_id"}


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The value at `path`: a top-level claim of that exact name first (Auth0 and Okta name custom claims
    with URLs, dots included), else the dotted path into nested objects (`realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class ClaimSource(BaseModel):
    """One claim and how its values become ours. In a file, a bare string is the claim path alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    claim: str = Field(min_length=1, description="claim path, e.g. realm_access.roles or scope")
    prefix: str | None = Field(None, description="only values starting with it count, with it removed")
    map: dict[str, str] | None = Field(None, description="provider value -> ours; other values do not count")

    @model_validator(mode="before")
    @classmethod
    def _bare_path(cls, value: Any) -> Any:
        return {"claim": value} if isinstance(value, str) else value

    def values(self, claims: dict[str, Any]) -> list[str]:
        """Our values, in the token's order without repeats: a list claim item by item, a string split on
        whitespace (the `scope` form), then the prefix and the map applied."""
        raw = claim_at(claims, self.claim)
        if raw is None:
            return []
        if isinstance(raw, str):
            items = raw.split()
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            items = raw
        else:
            raise AuthError(f"the token's '{self.claim}' claim must be a string or a list of strings")
        found: list[str] = []
        for item in items:
            if self.prefix is not None:
                if not item.startswith(self.prefix):
                    continue
                item = item[len(self.prefix):]
            if self.map is not None:
                mapped = self.map.get(item)
                if mapped is None:
                    continue
                item = mapped
            if item and item not in found:
                found.append(item)
        return found


class ClaimMapping(BaseModel):
    """Where role, purposes and IDs come from. The defaults read the demo's tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field("sub", description="claim path of the caller's stable ID (the audit log's subject)")
    role: ClaimSource = ClaimSource(claim="role")
    purposes: ClaimSource = ClaimSource(claim="purposes")
    consultant_id: ClaimSource = ClaimSource(claim="consultant_id")
    customer_id: ClaimSource = ClaimSource(claim="customer_id")
    partner_id: ClaimSource = ClaimSource(claim="partner_id")
    organisation: str = Field("org", description="claim path of the caller's organisation (default: rm); a "
                              "partner's organisation is always its partner ID")

    @field_validator("role")
    @classmethod
    def _roles_are_ours(cls, source: ClaimSource) -> ClaimSource:
        unknown = sorted({role for role in (source.map or {}).values() if role not in ROLES})
        if unknown:
            raise ValueError(f"role map targets {', '.join(unknown)}, not among {', '.join(ROLES)}")
        return source


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token says the caller is, before the request names its purpose."""

    subject: str
    role: str
    purposes: tuple[str, ...]
    consultant_id: str | None = None
    customer_id: str | None = None
    partner_id: str | None = None
    organisation: str = "rm"

    def caller(self, purpose: str | None) -> Caller:
        if not purpose:
            raise PurposeError("PURPOSE_REQUIRED", "declare the purpose of this request in the X-Purpose header")
        if purpose not in self.purposes:
            raise PurposeError("PURPOSE_NOT_ALLOWED", f"purpose '{purpose[:40]}' is not among this token's purposes")
        return Caller(self.subject, self.role, self.purposes, purpose, self.consultant_id, self.customer_id,
                      self.partner_id, self.organisation)


@dataclass(frozen=True, slots=True)
class Caller:
    subject: str
    role: str
    purposes: tuple[str, ...]
    purpose: str
    consultant_id: str | None = None
    customer_id: str | None = None
    partner_id: str | None = None
    organisation: str = "rm"

    @property
    def consumer(self) -> str:
        """The consumer name agreements are written against: a partner by its ID, anyone else by role."""
        return self.partner_id if self.role == "partner" and self.partner_id else self.role


def identity(claims: dict[str, Any], mapping: ClaimMapping) -> Identity:
    """The caller a verified token's claims describe under `mapping`; refused (401) with the reason when
    they map to no role or to several, or lack the ID the role needs."""
    subject = claim_at(claims, mapping.subject)
    if not isinstance(subject, str | int) or isinstance(subject, bool) or subject == "":
        raise AuthError(f"the token has no '{mapping.subject}' claim naming the caller")
    roles = [role for role in mapping.role.values(claims) if role in ROLES]
    if not roles:
        raise AuthError(f"the token maps to no role through '{mapping.role.claim}'; "
                        f"one of {', '.join(ROLES)} is needed")
    if len(roles) > 1:
        raise AuthError(f"the token maps to {len(roles)} roles ({', '.join(roles)}) through "
                        f"'{mapping.role.claim}'; exactly one is needed")
    role = roles[0]
    ids: dict[str, str] = {}
    needed = ROLE_SUBJECT_CLAIM.get(role)
    if needed:
        source: ClaimSource = getattr(mapping, needed)
        values = source.values(claims)
        if len(values) != 1:
            raise AuthError(f"a {role} token needs exactly one {needed} in its '{source.claim}' claim")
        ids[needed] = values[0]
    organisation = ids["partner_id"] if role == "partner" else claim_at(claims, mapping.organisation)
    return Identity(subject=str(subject), role=role, purposes=tuple(mapping.purposes.values(claims)),
                    organisation=organisation if isinstance(organisation, str) and organisation else "rm", **ids)
