"""The alliance as the JS subgraphs serve it, and the vcv configuration that reads those subgraphs.

The export is made from `generate(customers, seed)`, the same function `seed_master` writes vcv's master from
and the simulators serve from, and the partner records go through the same field mapping as vcv's REST
connectors (fixtures/partners.yaml): identical data by construction, checked again by the driver."""

from __future__ import annotations

from typing import Any

import yaml

from fixtures.alliance import PARTNERS, Alliance, partner_record
from resolvers.joint import TYPE_OF_PRODUCT
from resolvers.values import ContractRef

JS_PARTNERS = ("bank", "life", "invest")  # served by subgraphs.cjs; property is the project's own simulator
# The one type every contract ID of the bank resolves through (an entity interface): vcv knows contracts by ID.
BANK_INTERFACE = "BankContract"


def _contract(ref: ContractRef) -> dict[str, Any]:
    return {"__typename": TYPE_OF_PRODUCT[ref.product_type], "contractId": ref.contract_id,
            "partner": {"id": ref.partner_id, "name": PARTNERS[ref.partner_id]["name"]},
            "productType": ref.product_type, "status": ref.status, "startDate": ref.start_date.isoformat()}


def _joint_record(entry: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """A REST partner's record in joint-model names, through the partner's own connector mapping."""
    code = record[entry["product_field"]]
    out: dict[str, Any] = {"__typename": TYPE_OF_PRODUCT[entry["products"][code]],
                           "contractId": record[entry["id_field"]], "productCode": code}
    for joint, spec in entry["fields"].items():
        if isinstance(spec, str):
            out[joint] = record.get(spec)
        else:
            items = record.get(spec["from"])
            out[joint] = None if items is None else [{sub: item.get(src) for sub, src in spec["fields"].items()}
                                                     for item in items]
    return out


def export(alliance: Alliance, template: dict[str, Any]) -> dict[str, Any]:
    consultants = {c.id: c for c in alliance.consultants}
    contracts = {ref.contract_id: _contract(ref) for ref in alliance.contracts}
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for ref in sorted(alliance.contracts, key=lambda r: r.contract_id):  # the master's order (contract ID)
        by_customer.setdefault(ref.customer_id, []).append(contracts[ref.contract_id])
    customers = {}
    for c in alliance.customers:
        address = c.address
        customers[c.id] = {
            "id": c.id, "givenName": c.given_name, "familyName": c.family_name,
            "birthDate": c.birth_date.isoformat() if c.birth_date else None, "email": c.email, "phone": c.phone,
            "address": None if address is None else {"street": address.street, "postalCode": address.postal_code,
                                                     "city": address.city, "country": address.country},
            "segment": c.segment,
            "consultant": {"id": c.consultant_id, "name": consultants[c.consultant_id].name},
            "contracts": by_customer.get(c.id, []),
        }
    entries = {e["id"]: e for e in template["partners"]}
    out: dict[str, Any] = {"customers": customers, "contracts": contracts}
    for partner in JS_PARTNERS:
        out[partner] = {ref.contract_id: _joint_record(entries[partner], partner_record(alliance, ref))
                        for ref in alliance.contracts_of(partner)}
    return out


def vcv_partners(template: dict[str, Any], urls: dict[str, str], credentials: dict[str, str]) -> dict[str, Any]:
    """vcv's partners file: bank, life and invest as `protocol: graphql` connectors to the JS subgraphs (their
    fields carry the joint names), property as before (its simulator is a subgraph already)."""
    raw = yaml.safe_load(yaml.safe_dump(template))  # a deep copy
    for entry in raw["partners"]:
        entry.update(base_url=urls[entry["id"]], credential=credentials[entry["id"]])
        if entry["id"] not in JS_PARTNERS:
            continue
        entry["fields"] = {joint: joint if isinstance(spec, str) else {"from": joint,
                                                                       "fields": {s: s for s in spec["fields"]}}
                           for joint, spec in entry["fields"].items()}
        types = sorted({TYPE_OF_PRODUCT[p] for p in entry["products"].values()})
        entry.update(protocol="graphql", batch_path="/graphql", id_field="contractId", product_field="productCode")
        entry.pop("field_selection", None)
        if len(types) == 1:
            entry["graphql_typename"] = types[0]
        else:
            entry["graphql_typename"] = BANK_INTERFACE
            entry["graphql_types"] = {t: t for t in types}
    return raw


def agreements() -> dict[str, str]:
    """Agreement files under which a consultant with purpose `advisory` sees every field of the query, so vcv
    answers with the same values as the peers (policy is still evaluated for every field)."""
    owners = {"rm": ["Customer", "Contract"], "bank": ["BankAccount", "Loan"], "life": ["LifePolicy"],
              "property": ["PropertyPolicy"], "invest": ["Depot"]}
    return {owner: yaml.safe_dump({
        "owner": owner, "version": 1, "description": f"bench/peers: everything for the consultant ({owner})",
        "rules": [{"id": "consultant-advisory", "consumers": ["consultant"], "purposes": ["advisory"],
                   "fields": {f"{t}.*": "allow" for t in types}}]}, sort_keys=False)
        for owner, types in owners.items()}
