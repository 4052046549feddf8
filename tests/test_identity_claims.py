"""Claim mapping: each form a provider uses for roles, purposes and IDs (a nested path, a URL-named claim, a
list, a space-separated string, a prefix to strip, a map from the provider's values), the demo's own tokens
as one mapping, and a token refused with its reason when it maps to no role, to two, or lacks an ID."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.claims import ClaimMapping, ClaimSource, Identity, identity
from gateway.errors import AuthError, PurposeError


def _refused(claims: dict[str, Any], mapping: ClaimMapping) -> str:
    with pytest.raises(AuthError) as refused:
        identity(claims, mapping)
    return refused.value.message


def test_the_demo_tokens_are_the_default_mapping() -> None:
    claims = {"sub": "consultant:K-001", "role": "consultant", "purposes": ["advisory"], "consultant_id": "K-001",
              "customer_id": "C-000009"}
    assert identity(claims, ClaimMapping()) == Identity("consultant:K-001", "consultant", ("advisory",),
                                                        consultant_id="K-001")  # IDs only for the role's own
    partner = identity({"sub": "p", "role": "partner", "purposes": ["service"], "partner_id": "bank", "org": "x"},
                       ClaimMapping())
    assert (partner.partner_id, partner.organisation) == ("bank", "bank")  # a partner is its own organisation


def test_keycloak_nested_realm_roles_with_a_prefix_and_scope_string_purposes() -> None:
    mapping = ClaimMapping(role=ClaimSource(claim="realm_access.roles", prefix="vcv-"),
                           purposes=ClaimSource(claim="scope", prefix="purpose:"),
                           customer_id=ClaimSource(claim="attributes.customer"))
    claims = {"sub": "f:1b2c", "realm_access": {"roles": ["default-roles-bank", "offline_access", "vcv-customer"]},
              "scope": "openid profile purpose:self_service  purpose:complaint", "attributes": {"customer": "C-000002"}}
    found = identity(claims, mapping)
    assert (found.role, found.purposes, found.customer_id) == ("customer", ("self_service", "complaint"), "C-000002")


def test_a_url_named_claim_and_a_map_from_provider_roles() -> None:
    # Auth0 and Okta name custom claims with URLs: the whole name is looked up before any dotted path.
    mapping = ClaimMapping(role=ClaimSource(claim="https://vcv.example.com/roles",
                                            map={"RM-Advisor": "consultant", "RM-Audit": "compliance"}),
                           consultant_id=ClaimSource(claim="https://vcv.example.com/employee"))
    claims = {"sub": "auth0|77", "https://vcv.example.com/roles": ["Everyone", "RM-Advisor"],
              "https://vcv.example.com/employee": "K-004", "purposes": "advisory"}
    found = identity(claims, mapping)
    assert (found.role, found.consultant_id, found.purposes) == ("consultant", "K-004", ("advisory",))


def test_ids_from_a_prefixed_group_and_the_organisation_claim() -> None:
    mapping = ClaimMapping(role=ClaimSource(claim="groups", map={"g-consultants": "consultant"}),
                           consultant_id=ClaimSource(claim="groups", prefix="consultant:"), organisation="tid")
    claims = {"sub": "oid-1", "groups": ["g-consultants", "consultant:K-007", "g-all"], "purposes": ["advisory"],
              "tid": "rm-tenant"}
    found = identity(claims, mapping)
    assert (found.consultant_id, found.organisation) == ("K-007", "rm-tenant")
    claims["groups"].append("consultant:K-008")
    assert _refused(claims, mapping) == "a consultant token needs exactly one consultant_id in its 'groups' claim"


def test_no_role_two_roles_and_missing_ids_are_refused_with_the_reason() -> None:
    mapping = ClaimMapping(role=ClaimSource(claim="roles", map={"Agent": "service_agent", "Audit": "compliance"}))
    assert _refused({"sub": "u", "roles": ["Reader"]}, mapping).startswith("the token maps to no role through 'roles'")
    assert _refused({"sub": "u"}, mapping).startswith("the token maps to no role")
    assert _refused({"sub": "u", "roles": ["Agent", "Audit", "Agent"]}, mapping) == (
        "the token maps to 2 roles (service_agent, compliance) through 'roles'; exactly one is needed")
    # Without a map, only our own role names count; anything else a provider lists is not a role.
    assert identity({"sub": "u", "role": ["uma_authorization", "compliance"]}, ClaimMapping()).role == "compliance"
    assert _refused({"sub": "u", "role": "customer"}, ClaimMapping()) == (
        "a customer token needs exactly one customer_id in its 'customer_id' claim")
    assert _refused({"role": "compliance"}, ClaimMapping()) == "the token has no 'sub' claim naming the caller"
    assert _refused({"sub": "u", "role": {"name": "compliance"}}, ClaimMapping()) == (
        "the token's 'role' claim must be a string or a list of strings")


def test_the_request_purpose_must_be_among_the_mapped_purposes() -> None:
    found = identity({"sub": "u", "role": "service_agent", "purposes": ["service"]}, ClaimMapping())
    assert found.caller("service").purpose == "service"
    with pytest.raises(PurposeError) as refused:
        found.caller("advisory")
    assert refused.value.code == "PURPOSE_NOT_ALLOWED"


def test_a_mapping_reads_from_yaml_and_refuses_roles_that_are_not_ours() -> None:
    mapping = ClaimMapping.model_validate(yaml.safe_load("""
        role: {claim: realm_access.roles, prefix: vcv-}
        purposes: {claim: scope, prefix: "purpose:"}
        consultant_id: employee_id
    """))
    assert mapping.consultant_id == ClaimSource(claim="employee_id")
    with pytest.raises(ValidationError, match="role map targets admin, not among consultant"):
        ClaimMapping.model_validate({"role": {"claim": "groups", "map": {"g1": "admin"}}})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ClaimMapping.model_validate({"role": {"claim": "groups", "prefx": "vcv-"}})
