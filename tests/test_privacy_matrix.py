"""The agreements, cell by cell: for every consumer × purpose × owner × field of the demo agreements,
what `vcv policy explain` says is exactly what the gateway returns for the showcase customer, and every
field not shown in full is reported in `extensions.redactions` with the deciding rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fixtures.alliance import partner_record
from gateway.policy_loader import DEMO_AGREEMENTS, load_policy
from privacy.pseudonyms import PseudonymKeys
from privacy.treatments import apply
from privacy.vocabulary import PURPOSES
from resolvers.connectors.mapping import to_joint
from resolvers.connectors.partners_file import parse
from resolvers.joint import CONTRACT_TYPES, MASTER_FIELDS, TYPE_OF_PRODUCT
from resolvers.values import MoneyValue
from tests.gateway_support import SHOWCASE, Gateway, World

CONSUMERS = [("consultant", "consultant"), ("customer", "customer"), ("service_agent", "service_agent"),
             ("compliance", "compliance"), ("bank", "partner"), ("life", "partner"), ("property", "partner"),
             ("invest", "partner")]
CUSTOMER_FIELDS = "id givenName familyName birthDate email phone segment address { city } consultant { id } " \
                  "consents { purpose }"
SUBSELECTION = {"money": "{ amount currency }", "[Transaction]": "{ reference }", "[Claim]": "{ claimId }",
                "[Position]": "{ isin }"}

# Run on both execution paths (the planner, and strawberry alone): see tests/gateway_support.py.
BOTH_PATHS = True


def _full_query() -> str:
    fragments = []
    for type_name, fields in CONTRACT_TYPES.items():
        selections = []
        for name, kind in fields.items():
            args = "(first: 100)" if name == "recentTransactions" else ""
            selections.append(f"{name}{args} {SUBSELECTION.get(kind, '')}".strip())
        fragments.append(f"... on {type_name} {{ {' '.join(selections)} }}")
    return (f'query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} contracts {{ contractId status startDate '
            f'{" ".join(fragments)} }} }} }}')


def _shown(value: Any, kind: str) -> Any:
    """A Python value as the GraphQL response carries it (with the sub-selection of _full_query)."""
    if value is None:
        return None
    if isinstance(value, MoneyValue):
        return {"amount": str(value.amount), "currency": value.currency}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if kind == "[Transaction]":
        return sorted(t["reference"] for t in value)
    if kind == "[Claim]":
        return [{"claimId": c["claimId"]} for c in value]
    if kind == "[Position]":
        return [{"isin": p["isin"]} for p in value]
    return value


def _got(value: Any, kind: str) -> Any:
    # bookings come newest first; compare them as a set of references
    return sorted(t["reference"] for t in value) if kind == "[Transaction]" and value is not None else value


@pytest.fixture(scope="module")
def policy_and_keys(world: World):  # type: ignore[no-untyped-def]
    config = parse(world.config())
    policy = load_policy(DEMO_AGREEMENTS, config)
    return policy, PseudonymKeys.load(policy.pseudonymizing_owners(), directory=world.pseudonym_keys), config


def _customer_raw(world: World) -> dict[str, Any]:
    c = world.alliance.customer(SHOWCASE)
    return {"Customer.id": c.id, "Customer.givenName": c.given_name, "Customer.familyName": c.family_name,
            "Customer.birthDate": c.birth_date, "Customer.email": c.email, "Customer.phone": c.phone,
            "Customer.segment": c.segment}


@pytest.mark.parametrize("purpose", PURPOSES)
@pytest.mark.parametrize(("consumer", "role"), CONSUMERS)
async def test_explain_matches_what_the_gateway_returns(gateway: Gateway, world: World, policy_and_keys,  # type: ignore[no-untyped-def]
                                                        consumer: str, role: str, purpose: str) -> None:
    policy, keys, config = policy_and_keys
    customer = world.alliance.customer(SHOWCASE)
    consents = frozenset(c.purpose for c in world.alliance.consents
                         if c.customer_id == SHOWCASE and c.withdrawn_at is None)
    ids = {"consultant": {"consultant_id": customer.consultant_id}, "customer": {"customer_id": SHOWCASE},
           "partner": {"partner_id": consumer}}.get(role, {})
    explained = {owner: {row.field: row for row in policy.explain(owner, consumer, purpose, role=role,
                                                                   consents=consents)}
                 for owner in policy.owners()}
    # The caller names the customer the way it knows them: by pseudonym where that is all it is shown.
    known_as = world.pseudonym(SHOWCASE, consumer) if explained["rm"]["Customer.id"].treatment.kind == "pseudonymize" \
        else SHOWCASE
    reply = await gateway.as_role(_full_query(), role, purpose, {"id": known_as}, **ids)

    row_level_hidden = role == "compliance" or (role == "service_agent" and purpose not in ("service", "complaint"))
    if row_level_hidden or explained["rm"]["Customer.id"].treatment.kind == "redact":
        assert reply.data == {"customer": None}
        assert reply.codes() in (["CUSTOMER_NOT_FOUND"], ["FORBIDDEN"])
        return
    assert reply.errors == [], reply.errors
    got = reply.data["customer"]
    redactions = {(tuple(r["path"]), r["field"]): r for r in reply.body["extensions"]["redactions"]}

    def check(owner: str, field: str, kind: str, raw: Any, shown: Any, path: tuple) -> None:
        row = explained[owner][field]
        key = keys.for_consumer(owner, consumer)  # one pseudonym key per (owner, consumer)
        expected = None if row.treatment.kind == "redact" else apply(row.treatment, raw, kind, key=key)
        assert _got(shown, kind) == _shown(expected, kind), (consumer, purpose, field, row.shown)
        if row.treatment.kind != "allow":
            entry = redactions[(path, field)]
            assert (entry["owner"], entry["rule"], entry["treatment"]) == (owner, row.rule, str(row.treatment))
        else:
            assert (path, field) not in redactions

    for field, raw in _customer_raw(world).items():
        name = field.split(".")[1]
        check("rm", field, MASTER_FIELDS[field], raw, got[name], ("customer", name))
    for name in ("address", "consultant", "consents"):
        row = explained["rm"][f"Customer.{name}"]
        assert (got[name] is None) == (row.treatment.kind == "redact" or (name == "address" and not customer.address))

    # A contract is listed exactly when its partner lets this consumer know it exists (`<Type>.contractId`).
    def id_treatment(ref: Any) -> Any:
        return explained[ref.partner_id][f"{TYPE_OF_PRODUCT[ref.product_type]}.contractId"].treatment

    def shown_order(ref: Any) -> tuple[str, str]:
        # Listed by partner, then by the ID as this consumer is shown it (its pseudonym where pseudonymised).
        treatment = id_treatment(ref)
        if treatment.kind == "allow":
            return ref.partner_id, ref.contract_id
        return ref.partner_id, apply(treatment, ref.contract_id, "id", key=keys.for_consumer(ref.partner_id, consumer))

    listed = sorted((r for r in world.alliance.contracts
                     if r.customer_id == SHOWCASE and id_treatment(r).kind != "redact"), key=shown_order)
    assert len(got["contracts"]) == len(listed), (consumer, purpose)
    for index, (contract, ref) in enumerate(zip(got["contracts"], listed, strict=True)):
        base = ("customer", "contracts", index)
        check(ref.partner_id, f"{TYPE_OF_PRODUCT[ref.product_type]}.contractId", "id", ref.contract_id,
              contract["contractId"], (*base, "contractId"))
        check("rm", "Contract.status", "string", ref.status, contract["status"], (*base, "status"))
        check("rm", "Contract.startDate", "date", ref.start_date, contract["startDate"], (*base, "startDate"))
        type_name = TYPE_OF_PRODUCT[ref.product_type]
        values = to_joint(config.partners[ref.partner_id], partner_record(world.alliance, ref),
                          CONTRACT_TYPES[type_name]).values
        for name, kind in CONTRACT_TYPES[type_name].items():
            check(ref.partner_id, f"{type_name}.{name}", kind, values.get(name), contract[name], (*base, name))
