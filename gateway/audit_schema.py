"""Reading the audit log through GraphQL: `auditEvents` for compliance officers, `accessLog` for a customer's
own access report (and for compliance). These reads are operations like any other, so they are audited too."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

import strawberry

from gateway.context import Info
from gateway.errors import Forbidden
from gateway.paging import page_size, resume_after
from privacy.audit.store import AuditQuery
from privacy.audit.verify import verify


@strawberry.type(description="Who made an audited request.")
class AuditCaller:
    subject: str | None = strawberry.field(description="The token's subject, e.g. consultant:K-001.")
    role: str | None = strawberry.field(description="The caller's role.")
    organisation: str | None = strawberry.field(description="rm, or the partner's ID.")


@strawberry.type(description="One partner call made for an audited request.")
class AuditPartnerCall:
    partner: str = strawberry.field(description="Partner ID.")
    contracts: int = strawberry.field(description="How many contracts were asked for.")
    outcome: str = strawberry.field(description="ok, or the PARTNER_* code of the failure.")
    latency_ms: float = strawberry.field(description="How long the call took.")


@strawberry.type(description="A field the caller asked for and did not get in full, and the rule why.")
class AuditWithheld:
    path: str = strawberry.field(description="Response path, e.g. customer.contracts.3.iban.")
    field: str = strawberry.field(description="Type.field, e.g. BankAccount.iban.")
    owner: str = strawberry.field(description="The data owner whose agreement decided.")
    treatment: str = strawberry.field(description="What was done, e.g. mask last4.")
    rule: str = strawberry.field(description="owner/rule-id of the deciding rule.")


@strawberry.type(description="A consent granted or withdrawn by an audited request.")
class ConsentChange:
    customer_id: strawberry.ID = strawberry.field(description="Whose consent.")
    purpose: str = strawberry.field(description="The purpose consented to, e.g. lead_management.")
    before: str = strawberry.field(description="`granted` or `not granted` before the request.")
    after: str = strawberry.field(description="`granted` or `not granted` after it.")

    @staticmethod
    def of(records: list[dict[str, str]] | None) -> list[ConsentChange]:
        return [ConsentChange(customer_id=strawberry.ID(r["customer"]), purpose=r["purpose"], before=r["before"],
                              after=r["after"]) for r in records or []]


@strawberry.type(description="One audited GraphQL operation. Holds names, codes and rules, never values.")
class AuditEvent:
    seq: int = strawberry.field(description="Position in the hash chain.")
    time: datetime = strawberry.field(description="When it was recorded.")
    request_id: str = strawberry.field(description="The request ID (X-Request-ID).")
    caller: AuditCaller = strawberry.field(description="Who asked.")
    purpose: str | None = strawberry.field(description="The declared purpose.")
    operation_name: str | None = strawberry.field(description="The operation's name, if it had one.")
    operation_hash: str | None = strawberry.field(description="SHA-256 of the operation's text.")
    customers: list[strawberry.ID] = strawberry.field(description="Customers whose data was shown.")
    partners: list[AuditPartnerCall] = strawberry.field(description="Partner calls made.")
    fields_shown: list[str] = strawberry.field(description="owner/Type.field given in full.")
    fields_withheld: list[AuditWithheld] = strawberry.field(description="Fields not given in full, with rules.")
    errors: list[str] = strawberry.field(description="Error codes of the response.")
    outcome: str = strawberry.field(description="allowed, partial or refused.")
    consent_changes: list[ConsentChange] = strawberry.field(
        description="Consents this request granted or withdrawn, with their state before and after.")


@strawberry.type(description="A page of audit events.")
class AuditEventConnection:
    events: list[AuditEvent] = strawberry.field(description="Oldest first.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")
    has_next_page: bool = strawberry.field(description="True when more events follow.")


@strawberry.input(description="Which audit events to list; every given criterion must hold.")
class AuditFilter:
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="Events touching him/her.")
    subject: str | None = strawberry.field(default=None, description="Events by this caller (token subject).")
    purpose: str | None = strawberry.field(default=None, description="Events with this purpose.")
    outcome: str | None = strawberry.field(default=None, description="allowed, partial or refused.")
    since: datetime | None = strawberry.field(default=None, description="Recorded at or after.")
    until: datetime | None = strawberry.field(default=None, description="Recorded before.")
    fields_shown: list[str] | None = strawberry.field(
        default=None, description="Events that showed at least one of these fields in full, as Type.field (e.g. "
                                  "LifePolicy.healthClass): \"who saw this customer's health data\" in one search.")


@strawberry.type(description="One access to a customer's data, as the customer's access report shows it: when, "
                             "by which organisation, for what purpose and which data; and every change of the "
                             "customer's consents. Employees are not named.")
class AccessEvent:
    time: datetime = strawberry.field(description="When the data was accessed.")
    organisation: str = strawberry.field(description="Who accessed it: the relationship manager or a partner.")
    purpose: str = strawberry.field(description="Why: the purpose declared for the access.")
    data_shown: list[str] = strawberry.field(description="Which data was shown, as Type.field.")
    consent_changes: list[ConsentChange] = strawberry.field(
        description="Consents granted or withdrawn in this event (by the customer, in self-service).")


@strawberry.type(description="A page of a customer's access report.")
class AccessEventConnection:
    events: list[AccessEvent] = strawberry.field(description="Oldest first.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")
    has_next_page: bool = strawberry.field(description="True when more accesses follow.")


@strawberry.type(description="Whether the audit log is complete and unaltered, as `vcv audit verify` checks it: "
                             "every event chains to the one before, checkpoints carry valid signatures.")
class AuditChainStatus:
    intact: bool = strawberry.field(description="True when nothing was edited, removed, inserted or reordered.")
    events: int = strawberry.field(description="Events checked.")
    checkpoints: int = strawberry.field(description="Signed checkpoints checked.")
    broken_at: int | None = strawberry.field(description="The first sequence number that does not verify.")
    reason: str = strawberry.field(description="Why it does not verify (empty when intact).")
    summary: str = strawberry.field(description="One line, as `vcv audit verify` prints it.")


async def audit_chain(info: Info) -> AuditChainStatus:
    if info.context.caller.role != "compliance":
        raise Forbidden("only compliance officers verify the audit log")
    audit = info.context.audit
    # A gateway that signs nothing can only say whether the chain holds ("unsigned"), never "intact".
    verdict = await verify(audit.engine, audit.public_key, check_signatures=audit.public_key is not None)
    return AuditChainStatus(intact=verdict.intact, events=verdict.events, checkpoints=verdict.checkpoints,
                            broken_at=verdict.broken_at, reason=verdict.reason, summary=str(verdict))


def _page(info: Info, first: int | None, after: str | None) -> tuple[int, int]:
    """Page size and the sequence number the page resumes after (0: from the first event)."""
    return page_size(first), resume_after(info.context.cursors, after, int) or 0


def _event(row: dict[str, Any]) -> AuditEvent:
    body = row["body"]
    caller, operation = body.get("caller") or {}, body.get("operation") or {}
    return AuditEvent(
        seq=row["seq"], time=row["recorded_at"], request_id=body.get("request_id", ""),
        caller=AuditCaller(subject=caller.get("subject"), role=caller.get("role"),
                           organisation=caller.get("organisation")),
        purpose=body.get("purpose"), operation_name=operation.get("name"), operation_hash=operation.get("hash"),
        customers=[strawberry.ID(c) for c in body.get("customers") or []],
        partners=[AuditPartnerCall(partner=p["partner"], contracts=p["contracts"], outcome=p["outcome"],
                                   latency_ms=p["latency_ms"]) for p in body.get("partners") or []],
        fields_shown=list((body.get("fields") or {}).get("shown") or []),
        fields_withheld=[AuditWithheld(path=".".join(str(x) for x in w["path"]), field=w["field"], owner=w["owner"],
                                       treatment=w["treatment"], rule=w["rule"])
                         for w in (body.get("fields") or {}).get("withheld") or []],
        errors=list(body.get("errors") or []), outcome=body.get("outcome", ""),
        consent_changes=ConsentChange.of(body.get("consent_changes")),
    )


async def audit_events(info: Info, filter: AuditFilter | None, first: int | None,
                       after: str | None) -> AuditEventConnection:
    if info.context.caller.role != "compliance":
        raise Forbidden("only compliance officers read the audit log")
    first, after_seq = _page(info, first, after)
    f = filter or AuditFilter()
    if f.customer_id:
        info.context.touched.add(str(f.customer_id))  # reading about a customer is an access to be logged
    query = AuditQuery(after_seq=after_seq, limit=first + 1, customer_id=str(f.customer_id) if f.customer_id else None,
                       subject=f.subject, purpose=f.purpose, outcome=f.outcome, since=f.since, until=f.until)
    if f.fields_shown is not None:
        rows = await _showing(info, query, set(f.fields_shown), first + 1)
    else:
        rows = await info.context.audit.search(query)
    page = rows[:first]
    end = info.context.cursors.encode(str(page[-1]["seq"])) if page else None
    return AuditEventConnection(events=[_event(r) for r in page], end_cursor=end, has_next_page=len(rows) > first)


async def _showing(info: Info, query: AuditQuery, fields: set[str], limit: int) -> list[dict[str, Any]]:
    """Up to `limit` events that showed one of `fields`; the store filters the rest, this the fields (kept as
    `owner/Type.field` in the event body), reading on in batches until the page is full."""
    found: list[dict[str, Any]] = []
    after = query.after_seq
    while len(found) < limit:
        rows = await info.context.audit.search(replace(query, after_seq=after, limit=200))
        for row in rows:
            shown = (row["body"].get("fields") or {}).get("shown") or []
            if any(f.split("/", 1)[-1] in fields for f in shown):
                found.append(row)
                if len(found) == limit:
                    break
        if len(rows) < 200:
            break
        after = rows[-1]["seq"]
    return found


async def access_log(info: Info, customer_id: str, first: int | None, after: str | None) -> AccessEventConnection:
    caller = info.context.caller
    own = caller.role == "customer" and caller.customer_id == customer_id
    if not own and caller.role != "compliance":
        raise Forbidden("an access report is for the customer themself or for compliance")
    first, after_seq = _page(info, first, after)
    info.context.touched.add(customer_id)  # this read is itself an event about the customer
    shown: list[AccessEvent] = []
    cursor_seq, more = after_seq, False
    # The customer's own requests are not accesses by others, except those that changed their consents (on the
    # record, so the report shows them); refused requests released no data.
    while len(shown) <= first:
        rows = await info.context.audit.search(AuditQuery(after_seq=cursor_seq, limit=200, customer_id=customer_id))
        for row in rows:
            body = row["body"]
            changes = [c for c in body.get("consent_changes") or [] if c.get("customer") == customer_id]
            by_themself = (body.get("caller") or {}).get("role") == "customer"  # row level: only their own
            if (by_themself and not changes) or body.get("outcome") == "refused":
                cursor_seq = row["seq"]
                continue
            if len(shown) == first:
                more = True
                break
            cursor_seq = row["seq"]
            shown.append(AccessEvent(
                time=row["recorded_at"], organisation=(body.get("caller") or {}).get("organisation") or "unknown",
                purpose=body.get("purpose") or "", data_shown=sorted({f.split("/", 1)[-1] for f in
                                                                      (body.get("fields") or {}).get("shown") or []}),
                consent_changes=ConsentChange.of(changes)))
        if more or len(rows) < 200:
            break
    end = info.context.cursors.encode(str(cursor_seq)) if shown else None
    return AccessEventConnection(events=shown, end_cursor=end, has_next_page=more)


AuditFilterArg = Annotated[AuditFilter | None, strawberry.argument(description="Which events.")]
