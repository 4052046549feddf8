"""Where a field is hidden: the per-request guard every governed value passes through on its way out.

It decides (once per owner, field and consent set), applies the treatment, and writes down every field
the caller asked for and did not get in full, so the response can say why (`extensions.redactions`).
Only paths, field names, owners, treatments and rule IDs are recorded, never a value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from privacy.policy import DEFAULT_DENY, Decision, PolicySet
from privacy.pseudonyms import PseudonymKeys, index_token, index_tokens, key_fingerprint
from privacy.treatments import REDACT, apply, pseudonym


@dataclass(frozen=True, slots=True)
class Redaction:
    path: tuple[str | int, ...]
    field: str
    owner: str
    treatment: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "field": self.field, "owner": self.owner, "treatment": self.treatment,
                "rule": self.rule}


@dataclass(slots=True)
class Guard:
    policy: PolicySet
    keys: PseudonymKeys | None
    consumer: str
    role: str
    purpose: str
    redactions: list[Redaction] = field(default_factory=list)
    shown: set[tuple[str, str]] = field(default_factory=set)  # (owner, field) given in full, for the audit log
    _cache: dict[tuple[str, str, frozenset[str]], Decision] = field(default_factory=dict)

    def decide(self, owner: str, name: str, consents: frozenset[str]) -> Decision:
        key = (owner, name, consents)
        decision = self._cache.get(key)
        if decision is None:
            if owner in self.policy.catalogue:
                decision = self.policy.decide(owner, name, self.consumer, self.role, self.purpose, consents)
            else:  # a data owner nobody wrote an agreement for: default deny, never an error
                decision = Decision(REDACT, f"{owner}/{DEFAULT_DENY}")
            self._cache[key] = decision
        return decision

    def visible(self, owner: str, names: Iterable[str], consents: frozenset[str]) -> frozenset[str]:
        """The subset of `names` shown in any form: only these are worth asking a partner for."""
        return frozenset(n for n in names if not self.decide(owner, n, consents).redacted)

    def reveal(self, path: Sequence[str | int], owner: str, name: str, value: Any, consents: frozenset[str], *,
               failed: Exception | None = None) -> Any:
        """The one way a governed value reaches a response: decide, write it down (shown in full, for the
        audit log; anything short of `allow` reported at `path`) and apply the treatment, in one call, so no
        field can be answered without its report. `failed` is the source's error for a value that could not be
        fetched: raised for a field the caller may see (nothing is recorded as shown), never for a hidden one
        (its report does not depend on whether the source answered)."""
        decision = self.decide(owner, name, consents)
        if decision.redacted:
            self._withhold(path, owner, name, decision)
            return None
        if failed is not None:
            raise failed
        if decision.treatment.kind == "allow":
            self.shown.add((owner, name))
            return value
        self._withhold(path, owner, name, decision)
        return apply(decision.treatment, value, self.policy.kind(owner, name), key=self._key(owner))

    def withheld(self, path: Sequence[str | int], owner: str, name: str, consents: frozenset[str]) -> bool:
        """For a field built from the owner's data rather than copied (an address, the consultant): True, and
        reported at `path`, when it must not be built at all; otherwise recorded as shown."""
        return self.reveal(path, owner, name, True, consents) is None

    def in_full(self, path: Sequence[str | int], owner: str, name: str, consents: frozenset[str]) -> bool:
        """For a value used inside an aggregate (the portfolio): True when the caller sees it in full. Any
        treatment short of `allow` is reported at `path`: a generalised or hidden value is left out rather
        than summed, so a total cannot let the caller recover what the agreement hides."""
        decision = self.decide(owner, name, consents)
        if decision.treatment.kind != "allow":
            self._withhold(path, owner, name, decision)
            return False
        return True

    @property
    def profile(self) -> tuple[object, ...]:
        """Everything `decide` reads besides owner, field and consents: the key under which a decision may be
        kept beyond this request (the planner keeps its per-object programs so)."""
        return (self.policy, self.consumer, self.role, self.purpose)

    def shown_in_full(self, field: tuple[str, str]) -> None:
        """For a caller that decided ahead (`decide`: allow) and hands the value (owner, field) out untouched."""
        self.shown.add(field)

    def hidden(self, path: Sequence[str | int], owner: str, name: str, decision: Decision) -> None:
        """For a caller that decided ahead (`decide`: redacted) and leaves the value out: reported at `path`."""
        self._withhold(path, owner, name, decision)

    def _withhold(self, path: Sequence[str | int], owner: str, name: str, decision: Decision) -> None:
        self.redactions.append(Redaction(tuple(path), name, owner, str(decision.treatment), decision.rule))

    def _key(self, owner: str) -> bytes | None:
        # One key per (owner, consumer): stable for this consumer, unrelated for every other one, so two
        # consumers cannot join what they are shown on a pseudonym (SPEC §6).
        return None if self.keys is None else self.keys.for_consumer(owner, self.consumer)

    def pseudonym_of(self, owner: str, value: str) -> str | None:
        """The pseudonym this caller is shown for `value` where `owner` pseudonymises it; None when the owner
        has no key. For finding a record by pseudonym; `known_as` then checks that the caller is shown it."""
        key = self._key(owner)
        return None if key is None else pseudonym(value, key)

    def index_token(self, owner: str, shown: str) -> str | None:
        """The pseudonym index's token for `shown`, one of this caller's pseudonyms of `owner`'s values."""
        key = self._key(owner)
        return None if key is None else index_token(key, shown)

    def index_tokens_of(self, owner: str, values: Sequence[str]) -> list[str] | None:
        """The index tokens of this caller's pseudonyms of `values` (building the index), in their order."""
        key = self._key(owner)
        return None if key is None else index_tokens(key, values)

    def index_fingerprint(self, owner: str) -> str | None:
        key = self._key(owner)
        return None if key is None else key_fingerprint(key)

    def known_as(self, owner: str, name: str, value: str, given: str, consents: frozenset[str]) -> bool:
        """Whether `given` is how this caller knows `value`: the value itself where it is shown in full, its
        pseudonym where it is pseudonymised, nothing else. A caller who sees pseudonyms therefore cannot look
        a record up by its real ID (guessing IDs would link them to pseudonyms), and a caller who sees real
        IDs cannot look one up by pseudonym (that would re-identify pseudonymised data)."""
        decision = self.decide(owner, name, consents)
        if decision.treatment.kind == "allow":
            return given == value
        if decision.treatment.kind == "pseudonymize":
            return given == self.pseudonym_of(owner, value)
        return False

    def as_extension(self) -> list[dict[str, Any]]:
        """The reports in path order: the same list however the fields were resolved (in parallel, in one
        pass), so the response and the audit event do not depend on which execution path answered."""
        return [r.as_dict() for r in sorted(self.redactions, key=_report_order)]


def _report_order(redaction: Redaction) -> tuple[Any, ...]:
    # Paths mix keys and list indexes; an index sorts before a key at the same depth, numbers numerically.
    return (tuple((isinstance(p, str), p) for p in redaction.path), redaction.owner, redaction.field)
