"""The answer in one pass over a compiled plan: each field read from its parent's source (governed values
through the guard, at their response path with aliases applied), serialised with the schema's own scalars.

A field that fails (a partner down) is null with an error at its exact path and locations, as graphql-core
reports it. A null where the schema promises a value would have to propagate to the parent; that case
never arises from the data this gateway serves, so instead of reproducing it the whole operation is handed
back to strawberry (`CannotProject`)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, located_error

from gateway.errors import VcvError
from gateway.planner.compile import Abstract, FieldPlan, Leaf, ListOf, Obj, Shape
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
        return project_fields(shape.fields, value, path, request, errors)
    if isinstance(shape, ListOf):
        return [complete(shape.item, shape.item_nullable, item, (*path, i), request, errors)
                for i, item in enumerate(value)]
    if isinstance(shape, Abstract):
        return project_fields(shape.by_type[value.type_name].fields, value, path, request, errors)
    raise AssertionError(shape)
