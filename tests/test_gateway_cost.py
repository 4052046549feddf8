"""The cost model behind QUERY_TOO_COMPLEX: what a front end's ordinary queries cost, and that no way of
writing a query (fragments, variables, aliases) makes an expensive one look cheap."""

from __future__ import annotations

from graphql import parse

from bench.run import QUERY as CUSTOMER_360
from gateway.cost import DEFAULT_MAX_COST, CostCache, query_cost


def cost(query: str, **variables: object) -> int:
    return query_cost(parse(query), variables=variables)


def test_a_full_customer_view_fits_and_a_page_of_them_does_not() -> None:
    assert 1_000 < cost(CUSTOMER_360) < DEFAULT_MAX_COST / 4
    opened = CUSTOMER_360.replace("customer(id: $id) {", "customers(first: 20) { edges { node {")
    page = opened.rstrip()[:-1] + "} } }"  # close edges, customers and the operation
    assert cost(page) > DEFAULT_MAX_COST


def test_first_counts_whether_literal_or_variable_and_is_capped() -> None:
    shape = "query($n: Int) {{ customers(first: {n}) {{ edges {{ node {{ id contracts {{ contractId }} }} }} }} }}"
    literal = cost(shape.format(n=50))
    assert cost(shape.format(n="$n"), n=50) == literal
    assert cost(shape.format(n="$n"), n=10**9) == cost(shape.format(n=100))
    assert cost(shape.format(n="$n")) == cost(shape.format(n=20))  # the documented default page size
    defaulted = shape.replace("$n: Int", "$n: Int = 100")
    assert cost(defaulted.format(n="$n")) == cost(shape.format(n=100))  # a variable's default counts too


def test_fragments_cost_what_they_select_and_contract_types_exclude_each_other() -> None:
    inline = "{ customer(id: \"C-1\") { contracts { ... on BankAccount { iban } ... on Depot { riskProfile } } } }"
    named = """{ customer(id: "C-1") { contracts { ...A ...D } } }
               fragment A on BankAccount { iban } fragment D on Depot { riskProfile }"""
    assert cost(inline) == cost(named)
    # A contract is one type at a time: two one-field branches cost what one does.
    single = "{ customer(id: \"C-1\") { contracts { ... on BankAccount { iban } } } }"
    assert cost(inline) == cost(single)
    interface = "{ customer(id: \"C-1\") { contracts { ... on Contract { status } ... on BankAccount { iban } } } }"
    assert cost(interface) > cost(single)


def test_aliases_add_up_and_introspection_is_cheap() -> None:
    one = "customer(id: \"C-1\") { contracts { contractId } }"
    assert cost("{ a: " + one + " b: " + one + " }") == 2 * cost("{ " + one + " }")
    assert cost("{ __schema { types { fields { name } } } }") == 1


def test_the_gateways_cost_cache_answers_what_costing_afresh_answers() -> None:
    """The gate costs each document once per values of the counts it reads, not once per request: what it
    answers from that cache must be what costing afresh gives, whatever else the variables hold."""
    text = ("query($n: Int = 100, $m: Int, $id: ID!) { customer(id: $id) { id } "
            "a: customers(first: $n) { edges { node { id } } } b: customers(first: $m) { edges { node { id } } } }")
    document, costs = parse(text), CostCache()
    sent: list[dict[str, object]] = [
        {"id": "C-1"}, {"id": "C-2"}, {"id": "C-1", "n": None}, {"id": "C-1", "n": 5}, {"id": "C-9", "n": 5},
        {"id": "C-1", "m": 7}, {"id": "C-1", "n": 5, "m": 7}, {"id": "C-1", "n": [1]}, {}, {"id": "C-1"}]
    for variables in sent:
        assert costs.cost(text, document, None, variables) == query_cost(document, variables=variables), variables
    # Cached by the counts only: another customer's ID is the same entry.
    entry = costs._entries[(text, None)]
    assert entry[0] == ("m", "n") and len(entry[1]) == 5
