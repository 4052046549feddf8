"""What every resolver of one request can reach: the verified caller and the per-request loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.cursors import Cursors
from gateway.identity import Caller
from privacy.audit.store import AuditLog
from privacy.guard import Guard
from resolvers.connectors import ConnectorConfig
from resolvers.loaders import PartnerLoaders
from resolvers.master import Master, MasterLoaders, Visibility


@dataclass(frozen=True, slots=True)
class ConsentChange:
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
    audit: AuditLog | None = None  # for reading the log (auditEvents, accessLog); writing is the app's
    touched: set[str] = field(default_factory=set)  # customers shown to the caller, for the audit event
    consent_changes: list[ConsentChange] = field(default_factory=list)  # setConsent, for the audit event

    @property
    def visibility(self) -> Visibility:
        c = self.caller
        return Visibility(c.role, c.purpose, c.consultant_id, c.customer_id, c.partner_id)
