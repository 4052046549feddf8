"""The joint data model as data: which contract type each product type has, and the kind of every field a
partner supplies. Connectors validate partner values against it, the GraphQL layer is checked against it
in tests, and agreements are type-checked with it. A new product type is a reviewed change here."""

from __future__ import annotations

PRODUCT_TYPES = ("CURRENT_ACCOUNT", "SAVINGS", "LOAN", "MORTGAGE", "LIFE", "DISABILITY", "ANNUITY",
                 "CAR", "HOUSEHOLD", "LIABILITY", "DEPOT")

# Kinds: string, float, decimal, date, money, [string], [<Object>]
OBJECTS: dict[str, dict[str, str]] = {
    "Transaction": {"bookingDate": "date", "amount": "money", "counterparty": "string", "reference": "string"},
    "Claim": {"claimId": "string", "reportedOn": "date", "amount": "money", "status": "string"},
    "Position": {"isin": "string", "name": "string", "quantity": "decimal", "value": "money"},
}

CONTRACT_TYPES: dict[str, dict[str, str]] = {
    "BankAccount": {"iban": "string", "balance": "money", "overdraftLimit": "money", "interestRate": "float",
                    "recentTransactions": "[Transaction]"},
    "Loan": {"principal": "money", "outstanding": "money", "interestRate": "float", "maturityDate": "date"},
    "LifePolicy": {"sumInsured": "money", "premium": "money", "paymentFrequency": "string",
                   "beneficiaries": "[string]", "surrenderValue": "money", "healthClass": "string"},
    "PropertyPolicy": {"kind": "string", "premium": "money", "deductible": "money", "insuredObject": "string",
                       "claims": "[Claim]"},
    "Depot": {"marketValue": "money", "riskProfile": "string", "positions": "[Position]"},
}

TYPE_OF_PRODUCT: dict[str, str] = {
    "CURRENT_ACCOUNT": "BankAccount", "SAVINGS": "BankAccount", "LOAN": "Loan", "MORTGAGE": "Loan",
    "LIFE": "LifePolicy", "DISABILITY": "LifePolicy", "ANNUITY": "LifePolicy",
    "CAR": "PropertyPolicy", "HOUSEHOLD": "PropertyPolicy", "LIABILITY": "PropertyPolicy", "DEPOT": "Depot",
}


def attribute_name(field: str) -> str:
    """The Python attribute behind a field's GraphQL name (`givenName` -> `given_name`), as the master's rows
    and the schema's types name it."""
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in field)


def object_of(kind: str) -> str | None:
    """`[Claim]` -> `Claim`; None for scalar kinds and `[string]`."""
    if kind.startswith("[") and kind[1:-1] in OBJECTS:
        return kind[1:-1]
    return None

# What the customer master ("rm") supplies, as agreements name it.
MASTER_FIELDS: dict[str, str] = {
    "Customer.id": "id", "Customer.givenName": "string", "Customer.familyName": "string",
    "Customer.birthDate": "date", "Customer.email": "string", "Customer.phone": "string",
    "Customer.address": "object", "Customer.segment": "string", "Customer.consultant": "object",
    "Customer.consents": "[Consent]", "Contract.status": "string", "Contract.startDate": "date",
    "Contract.endDate": "date",
}
MASTER_OWNER = "rm"


# `<Type>.contractId` is governed by the partner holding the contract: that the customer has a contract with
# it at all is the partner's to share. A consumer it is redacted for does not see the contract listed.
CONTRACT_ID = "contractId"


def catalogue(products_by_partner: dict[str, tuple[str, ...]]) -> dict[str, dict[str, str]]:
    """Owner -> {`Type.field` -> kind}: every field each data owner supplies, for the policy engine."""
    result = {MASTER_OWNER: dict(MASTER_FIELDS)}
    for partner, products in products_by_partner.items():
        types = sorted({TYPE_OF_PRODUCT[p] for p in products})
        result[partner] = {f"{t}.{name}": kind for t in types
                           for name, kind in {CONTRACT_ID: "id", **CONTRACT_TYPES[t]}.items()}
    return result
