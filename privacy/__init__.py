"""Data-sharing agreements and their enforcement: which field of whose data a consumer sees, for which
purpose, in which form, by which rule. Knows nothing of GraphQL; the gateway hands in the field catalogue.

This is the package's public surface: callers import from `privacy` (and the audit log from
`privacy.audit`), never from the modules behind it, so those can be rearranged freely."""

from privacy import policy_reports
from privacy.agreements import AgreementError, Problem, load_agreements
from privacy.catalogue import Catalogue
from privacy.categories import category_of
from privacy.categories import sort_key as category_sort_key
from privacy.diff import FieldChange, policy_diff
from privacy.diff import render as render_diff
from privacy.guard import Guard, Redaction
from privacy.policy import DEFAULT_DENY, Decision, ExplainRow, PolicySet
from privacy.pseudonyms import PseudonymKeyError, PseudonymKeys, ensure_demo_pseudonym_keys
from privacy.records import build_records, render_markdown
from privacy.rules import Agreement, Rule
from privacy.treatments import ALLOW, PSEUDONYM_PREFIX, PSEUDONYMIZE, REDACT, Treatment, apply, pseudonym
from privacy.vocabulary import PURPOSES, ROLES

__all__ = [
    "ALLOW", "DEFAULT_DENY", "PSEUDONYMIZE", "PSEUDONYM_PREFIX", "PURPOSES", "REDACT", "ROLES",
    "Agreement", "AgreementError", "Catalogue", "Decision", "ExplainRow", "FieldChange", "Guard", "PolicySet",
    "Problem", "PseudonymKeyError", "PseudonymKeys", "Redaction", "Rule", "Treatment",
    "apply", "build_records", "category_of", "category_sort_key", "ensure_demo_pseudonym_keys", "load_agreements",
    "policy_diff", "policy_reports", "pseudonym", "render_diff", "render_markdown",
]
