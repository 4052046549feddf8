"""`dataExport`: everything held about the calling customer in one machine-readable document (GDPR Art. 15
access, Art. 20 portability): the master record, every contract from every partner fetched live, consents
with their history and the access report.

The document is built by running ordinary queries through this same schema, with the caller's own request
context: the same agreements decide every field (withheld ones are listed with their rules), the same partner
calls are made (a partner that fails is stated, the rest is still exported) and the request's one audit event
records it like any read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.errors import Forbidden
from resolvers import CONTRACT_TYPES, OBJECTS, object_of

FORMAT = "vcv-data-export/1"
ACCESS_PAGE = 100


def _contract_fragments() -> str:
    """Every field of every contract type, sub-objects included: the export leaves nothing out by query shape."""
    def selection(kind: str, name: str) -> str:
        if kind == "money":
            return f"{name} {{ amount currency }}"
        sub = object_of(kind)
        if sub is not None:
            inner = " ".join(selection(k, n) for n, k in OBJECTS[sub].items())
            return f"{name} {{ {inner} }}"
        return name

    return " ".join(f"... on {type_name} {{ {' '.join(selection(k, n) for n, k in fields.items())} }}"
                    for type_name, fields in CONTRACT_TYPES.items())


RECORD = """query DataExportRecord {
  me {
    id givenName familyName birthDate email phone segment
    address { street postalCode city country }
    consultant { id name email }
    consents { purpose grantedAt withdrawnAt active }
    contracts { contractId productType status startDate endDate partner { id name } %s }
    portfolio { assets { amount currency } liabilities { amount currency } complete missingContracts
                terminatedContracts }
  }
}""" % _contract_fragments()  # noqa: UP031 (a GraphQL document full of braces: % keeps it readable)

ACCESS = """query DataExportAccess($id: ID!, $after: String) {
  accessLog(customerId: $id, first: %d, after: $after) {
    events { time organisation purpose dataShown consentChanges { purpose before after } }
    endCursor hasNextPage
  }
}""" % ACCESS_PAGE  # noqa: UP031


@strawberry.type(description="Everything held about you, in one machine-readable document (GDPR Art. 15 and 20).")
class DataExport:
    file_name: str = strawberry.field(description="A file name to save the document under.")
    generated_at: datetime = strawberry.field(description="When the export was made (UTC).")
    complete: bool = strawberry.field(description="False when a partner could not be reached: the document says "
                                                  "which, and everything else is in it.")
    document: JSON = strawberry.field(description="The export: master record, contracts from every partner, "
                                                  "consents with history, access report, partner failures, "
                                                  "fields withheld and why. Format `vcv-data-export/1`.")


def _moved(path: list[str | int]) -> list[str | int]:
    """A path of the inner `me` query as a path in the document."""
    if path[:1] == ["me"]:
        rest = path[1:]
        return rest if rest[:1] and rest[0] in ("contracts", "consents", "portfolio") else ["masterRecord", *rest]
    return ["accessReport", *path[2:]] if path[:1] == ["accessLog"] else path


def _failures(errors: list[GraphQLError] | None) -> list[dict[str, Any]]:
    return [{"path": _moved(list(e.path or [])), "partner": (e.extensions or {}).get("partner"),
             "code": (e.extensions or {}).get("code"), "message": e.message} for e in errors or []]


async def data_export(info: Info) -> DataExport:
    caller = info.context.caller
    if caller.role != "customer" or not caller.customer_id:
        raise Forbidden("a data export is for the customer themself")
    schema, context = info.schema, info.context
    before = len(context.guard.redactions)
    record = await schema.execute(RECORD, context_value=context, operation_name="DataExportRecord")
    me = (record.data or {}).get("me")
    if me is None:
        # Not found, or the master itself failed: nothing to export, said as such rather than an empty file.
        raise Forbidden("no customer record to export")
    accesses: list[dict[str, Any]] = []
    access_errors: list[GraphQLError] = []
    after: str | None = None
    while True:
        page = await schema.execute(ACCESS, variable_values={"id": caller.customer_id, "after": after},
                                    context_value=context, operation_name="DataExportAccess")
        access_errors += page.errors or []
        log = (page.data or {}).get("accessLog")
        if log is None:
            break
        accesses += log["events"]
        if not log["hasNextPage"]:
            break
        after = log["endCursor"]
    # What the inner queries withheld, reported at its place in this response (extensions.redactions paths are
    # response paths): me.contracts.3.iban is dataExport.document.contracts.3.iban.
    base = [*info.path.as_list(), "document"]
    context.guard.redactions[before:] = [replace(r, path=tuple(base + _moved(list(r.path))))
                                         for r in context.guard.redactions[before:]]
    failures = _failures(record.errors) + _failures(access_errors)
    now = datetime.now(UTC)
    contracts = me.pop("contracts")
    consents = me.pop("consents")
    portfolio = me.pop("portfolio")
    document = {
        "format": FORMAT,
        "generatedAt": now.isoformat(),
        "requestId": context.request_id,
        "subject": caller.customer_id,
        "masterRecord": me,
        "contracts": contracts,
        "portfolio": portfolio,
        "consents": consents,
        "accessReport": accesses,
        "failures": failures,
        # What this export does not show in full, and the agreement rule that decided it.
        "withheld": [{"path": list(r.path[len(base):]), "field": r.field, "owner": r.owner,
                      "treatment": r.treatment, "rule": r.rule} for r in context.guard.redactions[before:]],
    }
    return DataExport(file_name=f"{caller.customer_id}-data-export-{now:%Y%m%dT%H%M%SZ}.json", generated_at=now,
                      complete=not failures, document=cast(JSON, document))  # JSON: strawberry's scalar type
