"""What every resolver of one request can reach: the verified caller and the per-request loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry

from gateway.cursors import Cursors
from gateway.identity import Caller
from privacy import Guard
from privacy.audit.store import AuditLog
from resolvers import ConnectorConfig, Master, MasterLoaders, PartnerLoaders, Visibility


@dataclass(frozen=True, slots=True)
class ConsentChangeRecord:
    """A consent granted or withdrawn by this request, for the audit event (no evidence text, no values)."""

    customer_id: str
    purpose: str
    before: bool  # active before the request
    after: bool  # active after it

    def as_record(self) -> dict[str, str]:
        def state(active: bool) -> str:
            return "granted" if active else "not granted"

        return {"customer": self.customer_id, "purpose": self.purpose, "before": state(self.before),
                "after": state(self.after)}


@dataclass(slots=True)
class RequestContext:
    caller: Caller
    request_id: str
    master: Master
    master_loaders: MasterLoaders
    partners: PartnerLoaders
    partner_configs: dict[str, ConnectorConfig]
    guard: Guard
    cursors: Cursors
    audit: AuditLog  # for reading the log (auditEvents, accessLog); writing is the app's
    touched: set[str] = field(default_factory=set)  # customers shown to the caller, for the audit event
    consent_changes: list[ConsentChangeRecord] = field(default_factory=list)  # setConsent, for the audit event

    @property
    def visibility(self) -> Visibility:
        c = self.caller
        return Visibility(c.role, c.purpose, c.consultant_id, c.customer_id, c.partner_id)


# What a resolver of this schema is handed: the request's context, and no root value.
Info = strawberry.Info[RequestContext, None]
