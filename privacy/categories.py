"""Categories of personal data for the record of processing activities (GDPR Art. 30).

Auditors reason in categories ("health data went to whom?"), not in GraphQL fields. Known fields of the
joint model are placed explicitly; a field of a type added later falls back on its kind, so a new partner
never leaves a field uncategorised.
"""

from __future__ import annotations

from privacy.catalogue import split_field

# Special categories (Art. 9) and third parties' data are named explicitly so they can never be lumped in
# with ordinary contract data by the kind-based fallback.
_BY_FIELD = {
    "Customer.id": "identity",
    "Customer.givenName": "identity",
    "Customer.familyName": "identity",
    "Customer.birthDate": "identity",
    "Customer.email": "contact",
    "Customer.phone": "contact",
    "Customer.address": "contact",
    "Customer.segment": "relationship",
    "Customer.consultant": "relationship",
    "Customer.consents": "relationship",
    "BankAccount.iban": "financial",
    "BankAccount.recentTransactions": "financial",
    "LifePolicy.healthClass": "health",
    "LifePolicy.beneficiaries": "third parties",
    "PropertyPolicy.claims": "claims",
    "PropertyPolicy.insuredObject": "insured objects",
    "Depot.riskProfile": "investment profile",
    "Depot.positions": "financial",
}
_BY_KIND = {"money": "financial", "float": "financial", "decimal": "financial"}

# The order categories are listed in: most sensitive first, as a reader of the record would want.
ORDER = ("health", "third parties", "claims", "financial", "investment profile", "identity", "contact",
         "insured objects", "relationship", "contract")


def category_of(field: str, kind: str) -> str:
    if field in _BY_FIELD:
        return _BY_FIELD[field]
    if kind in _BY_KIND:
        return _BY_KIND[kind]
    return "identity" if split_field(field)[0] == "Customer" else "contract"


def sort_key(category: str) -> tuple[int, str]:
    return (ORDER.index(category) if category in ORDER else len(ORDER), category)
