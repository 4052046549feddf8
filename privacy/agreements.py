"""Agreement files: reading, validating against the format and the catalogue, and the resulting rules.

One YAML file per data owner (`*.yaml` in one directory). The shape is checked with the JSON Schema in
`agreement.schema.json`; names (owner, fields, consumers, purposes) and whether each treatment fits its
field's kind are checked against what the gateway hands in. Every problem names the file and line, all
problems of all files are reported together, and loading raises on any of them: the gateway must not
start on an agreement it does not understand.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from privacy.catalogue import WILDCARD, Catalogue, fields_of_type, owners_of_type, split_field, types_of
from privacy.policy import PolicySet
from privacy.rules import Agreement, Rule
from privacy.treatments import DATE_UNITS, Treatment, fits, fitting_kinds
from privacy.vocabulary import PURPOSES
from privacy.yaml_source import Document, SourceError, key_node, line_of, node_at, read_document

TREATMENT_SYNTAX = ("allow, redact, pseudonymize, {pseudonymize: {per: consumer}}, "
                    "{mask: last4|email|initials|full}, {generalize: {step: <number>}} "
                    "or {generalize: {to: month|year}}")


@dataclass(frozen=True, slots=True)
class Problem:
    source: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}" if self.line else f"{self.source}: {self.message}"


class AgreementError(ValueError):
    """One or more agreement files are invalid. The message has one `path:line: problem` line each."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_agreements(directory: Path, catalogue: Catalogue, *, known_consumers: Iterable[str],
                    known_purposes: Iterable[str] = PURPOSES) -> PolicySet:
    """Read every `*.yaml` agreement in the directory. `catalogue` maps owner -> {`Type.field`: kind};
    `known_consumers` are the roles and partner IDs a rule may name. An owner of the catalogue without a
    file shares nothing. Raises AgreementError listing every problem of every file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AgreementError([Problem(directory, None, "no such directory of agreement files")])
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise AgreementError([Problem(directory, None, "no agreement files (*.yaml) in this directory")])
    consumers, purposes = frozenset(known_consumers), frozenset(known_purposes)
    problems: list[Problem] = []
    agreements: dict[str, Agreement] = {}
    for path in paths:
        try:
            agreement = read_agreement(path, catalogue, known_consumers=consumers, known_purposes=purposes)
        except AgreementError as exc:
            problems.extend(exc.problems)
            continue
        first = agreements.get(agreement.owner)
        if first is not None:
            problems.append(Problem(path, agreement.line, f"owner {agreement.owner!r} already has an agreement in "
                                                          f"{first.source}; one file per owner"))
        else:
            agreements[agreement.owner] = agreement
    if problems:
        raise AgreementError(problems)
    return PolicySet(agreements, catalogue)


def read_agreement(path: Path, catalogue: Catalogue, *, known_consumers: Iterable[str],
                   known_purposes: Iterable[str] = PURPOSES) -> Agreement:
    """Read and validate one agreement file; raises AgreementError with every problem found in it."""
    try:
        document = read_document(path)
    except SourceError as exc:
        raise AgreementError([Problem(path, exc.line, exc.message)]) from exc
    problems = _schema_problems(document)
    if problems:
        raise AgreementError(problems)
    return _Reader(document, catalogue, frozenset(known_consumers), frozenset(known_purposes)).agreement()


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the agreement format (also usable by editors for completion)."""
    loaded: dict[str, Any] = json.loads(
        resources.files("privacy").joinpath("agreement.schema.json").read_text(encoding="utf-8"))
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def parse_treatment(value: str | Mapping[str, Any]) -> Treatment:
    """A schema-valid treatment as written in a file -> Treatment."""
    if isinstance(value, str):
        return Treatment(value)
    if "mask" in value:
        return Treatment("mask", value["mask"])
    if "pseudonymize" in value:
        return Treatment("pseudonymize", value["pseudonymize"]["per"])
    spec = value["generalize"]
    if "to" in spec:
        return Treatment("generalize", spec["to"])
    step = Decimal(str(spec["step"]))
    # 1000 and 1e3 and 1000.0 are the same step; write it the way a reader expects.
    return Treatment("generalize", step.to_integral_value() if step == step.to_integral_value() else step)


def _schema_problems(document: Document) -> list[Problem]:
    problems = []
    validator = _validator()
    for error in validator.iter_errors(document.data):
        # In a oneOf (a treatment), the most specific cause is the useful one: "'lst4' is not one of ...".
        problems.append(_schema_problem(document, best_match([error])))
    return sorted(problems, key=lambda p: p.line or 0)


def _schema_problem(document: Document, error: ValidationError) -> Problem:
    path = list(error.absolute_path)
    node = node_at(document.node, path)
    where = _describe(path)
    message = error.message
    if error.validator == "required":
        message = f"{where or 'the agreement'} is missing {error.message.removesuffix(' is a required property')}"
    elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else ())
        extra = sorted(str(k) for k in error.instance if k not in allowed)
        node = (key_node(node, extra[0]) or node) if extra else node
        message = f"unknown key {', '.join(map(repr, extra))} in {where or 'the agreement'}; " \
                  f"expected {', '.join(allowed)}"
    elif "propertyNames" in error.absolute_schema_path:
        node = key_node(node, error.instance) or node
        message = f"{error.instance!r} is not a field name; write Type.field (e.g. BankAccount.iban) or Type.*"
    elif _is_treatment_path(path) and error.validator == "oneOf":
        message = f"{path[3]}: {error.instance!r} is not a treatment; write one of {TREATMENT_SYNTAX}"
    elif where:
        message = f"{where}: {message}"
    return Problem(document.path, line_of(node), message)


def _is_treatment_path(path: Sequence[str | int]) -> bool:
    return len(path) == 4 and path[0] == "rules" and path[2] == "fields"


def _describe(path: Sequence[str | int]) -> str:
    """`['rules', 2, 'fields', 'Loan.outstanding']` -> `rules[2].fields.Loan.outstanding`."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


class _Reader:
    """Semantic checks on a schema-valid document, collecting every problem before raising."""

    def __init__(self, document: Document, catalogue: Catalogue, consumers: frozenset[str],
                 purposes: frozenset[str]) -> None:
        self.document = document
        self.catalogue = catalogue
        self.consumers = consumers
        self.purposes = purposes
        self.problems: list[Problem] = []

    def agreement(self) -> Agreement:
        data = self.document.data
        owner: str = data["owner"]
        if owner not in self.catalogue:
            self._problem(["owner"], f"unknown owner {owner!r}{_suggest(owner, self.catalogue)}; "
                                     f"owners are {', '.join(sorted(self.catalogue))}")
        rules: list[Rule] = []
        first_line: dict[str, int] = {}
        for index, raw in enumerate(data["rules"]):
            rule = self._rule(owner, index, raw)
            if rule.id in first_line:
                self._problem(["rules", index, "id"], f"rule id {rule.id!r} is used twice "
                                                      f"(first on line {first_line[rule.id]})")
            first_line.setdefault(rule.id, rule.line)
            rules.append(rule)
        if self.problems:
            raise AgreementError(sorted(self.problems, key=lambda p: p.line or 0))
        return Agreement(owner=owner, rules=tuple(rules), source=self.document.path, version=data["version"],
                         description=data.get("description", ""),
                         line=line_of(key_node(self.document.node, "owner") or self.document.node))

    def _rule(self, owner: str, index: int, raw: Mapping[str, Any]) -> Rule:
        at: list[str | int] = ["rules", index]
        for position, consumer in enumerate(raw["consumers"]):
            if consumer not in self.consumers:
                self._problem([*at, "consumers", position],
                              f"unknown consumer {consumer!r}{_suggest(consumer, self.consumers)}; consumers are "
                              f"roles or partner IDs: {', '.join(sorted(self.consumers))}")
        for position, purpose in enumerate(raw["purposes"]):
            if purpose not in self.purposes:
                self._problem([*at, "purposes", position], self._unknown_purpose(purpose))
        consent = raw.get("consent")
        if consent is not None and consent not in self.purposes:
            self._problem([*at, "consent"], "consent " + self._unknown_purpose(consent))
        fields, lines = self._fields(owner, [*at, "fields"], raw["fields"])
        return Rule(id=raw["id"], owner=owner, consumers=tuple(raw["consumers"]), purposes=tuple(raw["purposes"]),
                    consent=consent, fields=fields, source=self.document.path,
                    line=line_of(node_at(self.document.node, at)), description=raw.get("description", ""),
                    field_lines=lines)

    def _fields(self, owner: str, at: list[str | int],
                raw: Mapping[str, Any]) -> tuple[dict[str, Treatment], dict[str, int]]:
        """Expand wildcards; an entry naming a field explicitly overrides its type's wildcard in the same
        rule ("all of Loan allowed, but maturityDate only the year"), whatever order they are written in."""
        known = self.catalogue.get(owner)
        fields_node = node_at(self.document.node, at)
        expanded: dict[str, Treatment] = {}
        explicit: dict[str, Treatment] = {}
        lines: dict[str, int] = {}
        for name, value in raw.items():
            name_node = key_node(fields_node, name) or fields_node
            line = line_of(name_node)
            treatment = parse_treatment(value)
            if known is None:  # unknown owner, reported once already
                continue
            type_name, field_name = split_field(name)
            if field_name == WILDCARD:
                targets = fields_of_type(self.catalogue, owner, type_name)
                if not targets:
                    self._problem_at(line, self._unknown_type(owner, type_name))
                    continue
            elif name not in known:
                if type_name not in types_of(self.catalogue, owner):
                    self._problem_at(line, self._unknown_type(owner, type_name))
                else:
                    self._problem_at(line, f"unknown field {name!r}{_suggest(name, known)}; {type_name} has "
                                           f"{', '.join(n for n in known if split_field(n)[0] == type_name)}")
                continue
            else:
                targets = [name]
            misfits = [t for t in targets if not fits(treatment, known[t])]
            if misfits:
                self._problem_at(line, self._misfit(treatment, name, misfits, known))
                continue
            for target in targets:
                (expanded if field_name == WILDCARD else explicit)[target] = treatment
                if field_name != WILDCARD or target not in lines:
                    lines[target] = line
        merged = expanded | explicit
        # Catalogue order, so explain tables and the record list fields the same way for every rule.
        return {f: merged[f] for f in known or () if f in merged}, lines

    def _unknown_type(self, owner: str, type_name: str) -> str:
        elsewhere = [o for o in owners_of_type(self.catalogue, type_name) if o != owner]
        if elsewhere:
            return f"type {type_name!r} is not {owner}'s data; it belongs in the agreement of {', '.join(elsewhere)}"
        types = sorted(types_of(self.catalogue, owner))
        return f"unknown type {type_name!r}{_suggest(type_name, types)}; {owner}'s types are {', '.join(types)}"

    def _unknown_purpose(self, purpose: str) -> str:
        return f"unknown purpose {purpose!r}{_suggest(purpose, self.purposes)}; " \
               f"purposes are {', '.join(sorted(self.purposes))}"

    @staticmethod
    def _misfit(treatment: Treatment, name: str, misfits: list[str], known: Mapping[str, str]) -> str:
        kinds = ", ".join(f"{f} is {known[f]}" for f in misfits)
        hint = f"{treatment.kind} applies to {fitting_kinds(treatment)}"
        if treatment.kind == "generalize" and treatment.param in DATE_UNITS:
            hint += "; numbers take {generalize: {step: N}}"
        elif treatment.kind == "generalize":
            hint += "; dates take {generalize: {to: year}}"
        return f"{name}: {treatment} does not fit the field's type ({kinds}); {hint}"

    def _problem(self, path: Sequence[str | int], message: str) -> None:
        self._problem_at(line_of(node_at(self.document.node, path)), message)

    def _problem_at(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.document.path, line, message))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
