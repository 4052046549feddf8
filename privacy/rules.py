"""What an agreement says once read: its rules, wildcards expanded, each field with its treatment.

The data the policy engine decides over; reading and validating the files is `agreements`, deciding is
`policy`. Both import this module and neither imports the other's reader or engine back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from privacy.treatments import Treatment


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of an agreement, wildcards expanded: every field it names, with its treatment."""

    id: str
    owner: str
    consumers: tuple[str, ...]
    purposes: tuple[str, ...]
    consent: str | None
    fields: Mapping[str, Treatment]
    source: Path
    line: int
    description: str = ""
    field_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def qualified_id(self) -> str:
        """How callers see the rule, e.g. `bank/partners-lead`."""
        return f"{self.owner}/{self.id}"

    @property
    def where(self) -> str:
        return f"{self.source.name}:{self.line}"

    def matches(self, consumer: str | None, role: str | None, purpose: str) -> bool:
        """Whether the rule speaks about this caller and purpose, consent aside."""
        return purpose in self.purposes and (consumer in self.consumers or role in self.consumers)


@dataclass(frozen=True, slots=True)
class Agreement:
    owner: str
    rules: tuple[Rule, ...]
    source: Path
    version: int = 1
    description: str = ""
    line: int = 1  # of the `owner:` key
