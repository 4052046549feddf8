"""The answer in one pass over a compiled plan: each field read from its parent's source (governed values
through the guard, at their response path with aliases applied), serialised with the schema's own scalars.

Two things keep the pass cheap. A customer's or contract's fields follow a *program*: the guard's decision
for each, made once per (guard profile, partner, consent set) and kept with the plan, so an allowed field is
read straight from its source and a hidden one reported without asking again. Objects whose fields are all
plain reads (amounts, a partner's nested records) are built by one function each, made by `prepare` when the
plan is compiled.

A field that fails (a partner down) is null with an error at its exact path and locations, as graphql-core
reports it. A null where the schema promises a value would have to propagate to the parent; that case
never arises from the data this gateway serves, so instead of reproducing it the whole operation is handed
back to strawberry (`CannotProject`)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, located_error

from gateway.errors import VcvError
from gateway.planner.compile import Abstract, FieldPlan, Leaf, ListOf, Obj, Plan, Shape
from resolvers import PartnerError

Path = tuple[str | int, ...]


class CannotProject(Exception):
    """The answer needs something the one-pass projection does not reproduce (null propagation)."""


# Errors that are the caller's to read; anything else is a bug and goes to strawberry's path (masked there).
FIELD_ERRORS = (VcvError, PartnerError)


def project_fields(fields: list[FieldPlan], source: Any, path: Path, request: Any,
                   errors: list[GraphQLError]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for plan in fields:
        _general(plan, source, path, request, errors, out)
    return out


def _general(plan: FieldPlan, source: Any, path: Path, request: Any, errors: list[GraphQLError],
             out: dict[str, Any]) -> None:
    """One field through its getter (which asks the guard itself where the field is governed)."""
    here = (*path, plan.key)
    try:
        value = plan.get(source, here, request)
        if value is not None and plan.serialize is not None:  # a leaf: most fields, kept to one call
            out[plan.key] = plan.serialize(value)
        else:
            out[plan.key] = complete(plan.shape, plan.nullable, value, here, request, errors)
    except FIELD_ERRORS as error:
        if not plan.nullable:
            raise CannotProject(f"error on non-null field {plan.name}") from error
        errors.append(located_error(error, plan.nodes, list(here)))
        out[plan.key] = None


# What a program does with a field: read it as allowed in full, leave it out as hidden, read a plain
# attribute (the partner holding a contract, its product type), or ask the field's getter.
ALLOW, HIDE, PLAIN, GENERAL = 0, 1, 2, 3
# (action, field plan, response key, reader, builder of a non-null value, what the guard notes, nullable)
Step = tuple[int, FieldPlan, str, Any, Any, Any, bool]
MAX_PROGRAMS = 256  # per object of a plan; callers and consent sets vary, so bounded (emptied when full)


def program(obj: Obj, source: Any, guard: Any) -> tuple[Step, ...]:
    """The guard's decision for every field of `obj` on `source`, made once per (what decisions depend on:
    the guard's profile, the partner holding the source, the customer's active consents) and kept with the
    plan, so the many contracts of a view and the many views of a caller do not ask again per field. A
    decision short of allow or redact (a treatment) is left to the field's getter."""
    assert obj.policy_source is not None
    partner, consents = obj.policy_source(source)
    key = (guard.profile, partner, consents)
    steps = obj.programs.get(key)
    if steps is None:
        made: list[Step] = []
        for plan in obj.fields:
            governed = plan.governed
            owner = None if governed is None else governed.owner or partner
            build = _builder_of(plan.shape)
            if governed is None or owner is None:
                if plan.attribute is not None and build is not None:
                    made.append((PLAIN, plan, plan.key, plan.attribute, build, None, plan.nullable))
                else:
                    made.append((GENERAL, plan, plan.key, None, None, None, plan.nullable))
                continue
            decision = guard.decide(owner, governed.field, consents)
            if decision.redacted:
                made.append((HIDE, plan, plan.key, None, None, (owner, governed.field, decision), plan.nullable))
            elif decision.treatment.kind == "allow":
                made.append((ALLOW, plan, plan.key, governed.read, build, (owner, governed.field), plan.nullable))
            else:
                made.append((GENERAL, plan, plan.key, None, None, None, plan.nullable))
        if len(obj.programs) >= MAX_PROGRAMS:
            obj.programs.clear()
        steps = obj.programs[key] = tuple(made)
    return steps


def project_object(obj: Obj, source: Any, path: Path, request: Any, errors: list[GraphQLError]) -> dict[str, Any]:
    if obj.policy_source is None:
        return project_fields(obj.fields, source, path, request, errors)
    guard = request.context.guard
    shown = guard.shown_in_full
    out: dict[str, Any] = {}
    for action, plan, key, read, build, note, nullable in program(obj, source, guard):
        if action == ALLOW:
            try:
                value = read(source, plan, request)
                shown(note)
                if value is None:
                    if not nullable:
                        raise CannotProject(f"null at non-null {plan.name}")
                    out[key] = None
                elif build is not None:
                    out[key] = build(value)
                else:
                    out[key] = complete(plan.shape, nullable, value, (*path, key), request, errors)
            except FIELD_ERRORS as error:
                if not nullable:
                    raise CannotProject(f"error on non-null field {plan.name}") from error
                errors.append(located_error(error, plan.nodes, [*path, key]))
                out[key] = None
        elif action == PLAIN:
            value = getattr(source, read)
            if value is None:
                if not nullable:
                    raise CannotProject(f"null at non-null {plan.name}")
                out[key] = None
            else:
                out[key] = build(value)
        elif action == HIDE:
            if not nullable:
                raise CannotProject(f"hidden non-null field {plan.name}")
            guard.hidden((*path, key), *note)
            out[key] = None
        else:
            _general(plan, source, path, request, errors, out)
    return out


def complete(shape: Shape, nullable: bool, value: Any, path: Path, request: Any,
             errors: list[GraphQLError]) -> Any:
    if value is None:
        if not nullable:
            raise CannotProject(f"null at non-null {list(path)}")
        return None
    if isinstance(shape, Leaf):
        return shape.serialize(value)
    if isinstance(shape, Obj):
        if shape.build is not None:
            return shape.build(value)
        return project_object(shape, value, path, request, errors)
    if isinstance(shape, ListOf):
        if shape.build is not None:
            return shape.build(value)
        return [complete(shape.item, shape.item_nullable, item, (*path, i), request, errors)
                for i, item in enumerate(value)]
    if isinstance(shape, Abstract):
        return project_object(shape.by_type[value.type_name], value, path, request, errors)
    raise AssertionError(shape)


def prepare(plan: Plan) -> Plan:
    """Give every object whose fields are all plain reads of its source (an amount, a partner's nested
    record, a page's info) one function that builds it, and every list of such objects or of leaves one that
    builds the list: no getter, path or error bookkeeping per field where none can be needed (a plain read
    raises nothing the caller reads; a null at a non-null field still hands the operation back)."""
    for root in plan.roots:
        _prepare(root.shape)
    return plan


def _prepare(shape: Shape) -> None:
    if isinstance(shape, Obj):
        for field in shape.fields:
            _prepare(field.shape)
        shape.build = _object_builder(shape)
    elif isinstance(shape, ListOf):
        _prepare(shape.item)
        shape.build = _list_builder(shape)
    elif isinstance(shape, Abstract):
        for obj in shape.by_type.values():
            _prepare(obj)


def _builder_of(shape: Shape) -> Any:
    """How a non-null value of `shape` is built without a path, or None where it needs one."""
    if isinstance(shape, Leaf):
        return shape.serialize
    if isinstance(shape, Obj | ListOf):
        return shape.build
    return None


def _object_builder(obj: Obj) -> Any:
    if obj.policy_source is not None:
        return None
    steps: list[tuple[str, str, Any, bool]] = []
    for field in obj.fields:
        build = _builder_of(field.shape)
        if field.attribute is None or build is None:
            return None
        steps.append((field.key, field.attribute, build, field.nullable))
    keyed = obj.keyed

    def build_object(source: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attribute, build, nullable in steps:
            value = source.get(attribute) if keyed else getattr(source, attribute)
            if value is None:
                if not nullable:
                    raise CannotProject(f"null at non-null {obj.type_name}.{key}")
                out[key] = None
            else:
                out[key] = build(value)
        return out

    return build_object


def _list_builder(shape: ListOf) -> Any:
    build = _builder_of(shape.item)
    if build is None:
        return None
    nullable = shape.item_nullable

    def build_list(items: Any) -> list[Any]:
        out = [None if item is None else build(item) for item in items]
        if not nullable and None in out:
            raise CannotProject("null item in a list of non-null items")
        return out

    return build_list
