"""The plain words the pages show instead of internal keys: purpose titles and descriptions, product names,
organisation names, the data category of every field, and each agreement rule's own description.

Served as `/vocabulary.json` (see gateway/pages.py). It holds no customer data and no privilege: only names
of things the alliance already publishes in its agreements and privacy notices, so a customer can read in
their own words who saw what and why. Built from the running configuration, so a reload (new partner, new
rule) is reflected on the next page load."""

from __future__ import annotations

from typing import Any

from privacy import PolicySet, category_of, category_sort_key
from resolvers import PartnersConfig

MASTER_NAME = "Your relationship manager"

# Purposes as a customer reads them. A purpose added by configuration without an entry here is shown with
# its key made readable (`lead_management` -> "Lead management") rather than not at all.
PURPOSES = {
    "advisory": ("Advice", "Your consultant uses the alliance's data about you to advise you."),
    "service": ("Customer service", "Service staff look at your contracts to handle your requests."),
    "complaint": ("Complaints", "Staff look at your contracts to handle a complaint you made."),
    "lead_management": ("Product offers from alliance partners",
                        "Alliance partners may see a summary of your contracts (rounded amounts, no account "
                        "numbers) to offer you products."),
    "self_service": ("Your own view", "You looking at your own data on this page."),
    "audit": ("Compliance checks", "Compliance officers check that your data was used lawfully."),
}

PRODUCTS = {
    "CURRENT_ACCOUNT": "Current account", "SAVINGS": "Savings account", "LOAN": "Loan", "MORTGAGE": "Mortgage",
    "LIFE": "Life insurance", "DISABILITY": "Disability insurance", "ANNUITY": "Pension insurance",
    "CAR": "Car insurance", "HOUSEHOLD": "Home contents insurance", "LIABILITY": "Liability insurance",
    "DEPOT": "Investment account",
}

# Categories as a customer reads them (privacy/categories.py names them for the record of processing).
CATEGORIES = {
    "health": "Health information", "third parties": "People named in your contracts",
    "claims": "Insurance claims", "financial": "Balances and amounts", "investment profile": "Investment profile",
    "identity": "Your name and identity", "contact": "Contact details", "insured objects": "What is insured",
    "relationship": "Your relationship with the alliance", "contract": "Contract details",
}

TREATMENTS = {
    "redact": "hidden", "mask": "partly hidden", "generalize": "rounded", "pseudonymize": "replaced by a pseudonym",
}


def readable(key: str) -> str:
    """`lead_management` -> `Lead management`: the fallback for a key without a plain name."""
    text = key.replace("_", " ").strip().lower()
    return text[:1].upper() + text[1:]


def vocabulary(partners: PartnersConfig, policy: PolicySet) -> dict[str, Any]:
    fields: dict[str, str] = {}
    for kinds in policy.catalogue.values():
        for name, kind in kinds.items():
            fields.setdefault(name, category_of(name, kind))
    categories = sorted(set(fields.values()), key=category_sort_key)
    rules = {rule.qualified_id: rule.description.strip() for agreement in policy.agreements.values()
             for rule in agreement.rules if rule.description.strip()}
    return {
        "purposes": {key: {"title": title, "description": text} for key, (title, text) in PURPOSES.items()},
        "products": PRODUCTS,
        "organisations": {"rm": MASTER_NAME, **{p.id: p.name for p in partners.partners.values()}},
        "fields": fields,
        "categories": {c: CATEGORIES.get(c, readable(c)) for c in categories},
        "treatments": TREATMENTS,
        "rules": rules,
    }
