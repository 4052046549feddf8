"""Loading the data-sharing agreements for a gateway: the catalogue of what each owner supplies comes
from the joint model and the connector configuration, the rules from the agreement files, the pseudonym
keys from the environment or a key directory (never from the database)."""

from __future__ import annotations

from pathlib import Path

from privacy import ROLES, PolicySet, PseudonymKeys, load_agreements
from resolvers import PartnersConfig, catalogue

DEMO_AGREEMENTS = Path(__file__).resolve().parent.parent / "fixtures" / "agreements"


def load_policy(agreements_dir: Path, partners: PartnersConfig) -> PolicySet:
    """Raises privacy.agreements.AgreementError (every problem, each with file and line) on a bad file."""
    owners = catalogue({pid: c.product_types for pid, c in partners.partners.items()})
    return load_agreements(agreements_dir, owners, known_consumers={*ROLES, *partners.partners})


def load_keys(policy: PolicySet, keys_dir: Path | None) -> PseudonymKeys:
    return PseudonymKeys.load(policy.pseudonymizing_owners(), directory=keys_dir)
