"""Reading the partners file (`partners.yaml`): validated against a JSON Schema (whose `protocol` values are
the registered protocols, resolvers/connectors/protocols.py), then checked against the joint model, into a
`PartnersConfig` (resolvers/connectors/connector_config.py). Adding a partner that offers existing product
types is an entry in the file and nothing else."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from resolvers.connectors.connector_config import (
    ConnectorConfig,
    FieldMap,
    GraphQLType,
    PartnersConfig,
    PartnersConfigError,
)
from resolvers.connectors.protocols import protocol_names
from resolvers.joint import CONTRACT_TYPES, OBJECTS, TYPE_OF_PRODUCT, object_of

# The file's JSON Schema; `protocol` is filled in from the registry each time a file is read (schema()).
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["partners"],
    "additionalProperties": False,
    "properties": {
        "deadline_ms": {"type": "integer", "minimum": 1},
        "partners": {"type": "array", "items": {"$ref": "#/$defs/partner"}},
    },
    "$defs": {
        "mapping": {"type": "object", "additionalProperties": {"oneOf": [
            {"type": "string"},
            {"type": "object", "required": ["from", "fields"], "additionalProperties": False,
             "properties": {"from": {"type": "string"},
                            "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
        ]}},
        "partner": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "name", "protocol", "base_url", "credential", "contract_prefix", "id_field",
                         "product_field", "products", "fields"],
            "properties": {
                "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,31}$"},
                "name": {"type": "string"},
                "protocol": {"enum": []},  # the registered protocols: see schema()
                "base_url": {"type": "string", "pattern": "^https?://"},
                "credential": {"type": "string"},
                "timeout_ms": {"type": "integer", "minimum": 1},
                "max_batch_size": {"type": "integer", "minimum": 1},
                "max_concurrency": {"type": "integer", "minimum": 1},
                "retries": {"type": "integer", "minimum": 0, "maximum": 5},
                "retry_budget": {"type": "number", "minimum": 0, "maximum": 1},
                "breaker_failures": {"type": "integer", "minimum": 1},
                "breaker_cooldown_ms": {"type": "integer", "minimum": 1},
                "contract_prefix": {"type": "string", "pattern": "^[A-Z0-9]{2,8}$"},
                "batch_path": {"type": "string"},
                "field_selection": {"type": "boolean"},
                "graphql_typename": {"type": "string"},
                # joint contract type -> the partner's GraphQL type (name, or name plus per-type field mapping)
                "graphql_types": {"type": "object", "minProperties": 1, "additionalProperties": {"oneOf": [
                    {"type": "string"},
                    {"type": "object", "required": ["typename"], "additionalProperties": False,
                     "properties": {"typename": {"type": "string"}, "fields": {"$ref": "#/$defs/mapping"}}},
                ]}},
                "id_field": {"type": "string"},
                "product_field": {"type": "string"},
                "products": {"type": "object", "additionalProperties": {"enum": sorted(TYPE_OF_PRODUCT)}},
                "fields": {"$ref": "#/$defs/mapping"},
            },
        },
    },
}


def schema() -> dict[str, Any]:
    """The partners file's JSON Schema, `protocol` naming every protocol registered now."""
    partner = _SCHEMA["$defs"]["partner"]
    properties = {**partner["properties"], "protocol": {"enum": protocol_names()}}
    return {**_SCHEMA, "$defs": {**_SCHEMA["$defs"], "partner": {**partner, "properties": properties}}}


_ENV = re.compile(r"\$\{([A-Z0-9_]+)\}")


def _expand(value: str, where: str, allow_missing: bool = False) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name, "")
        if not value and allow_missing:
            return ""
        if not value:  # an empty credential would only show up later, as every partner call refused
            state = "empty" if name in os.environ else "not set"
            raise PartnersConfigError(f"{where}: environment variable {name} is {state}")
        return value

    return _ENV.sub(sub, value)


def parse(raw: Any, source: str = "<memory>", *, allow_missing_env: bool = False) -> PartnersConfig:
    """Validate and build; `allow_missing_env` is for tools (policy check) that never call a partner."""
    try:
        jsonschema.validate(raw, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        message = exc.message
        if exc.validator == "enum" and list(exc.absolute_path)[-1:] == ["protocol"]:
            message = (f"unknown protocol {exc.instance!r}; the registered protocols are "
                       f"{', '.join(protocol_names())} (resolvers.register_protocol adds one)")
        raise PartnersConfigError(f"{source}: {where}: {message}") from None
    partners: dict[str, ConnectorConfig] = {}
    for index, entry in enumerate(raw["partners"]):
        where = f"{source}: partners/{index} ({entry['id']})"
        if entry["id"] in partners:
            raise PartnersConfigError(f"{where}: duplicate partner id")
        if entry["protocol"] == "graphql" and not entry.get("graphql_typename"):
            raise PartnersConfigError(f"{where}: a graphql partner needs graphql_typename")
        fields = {name: _field_map(spec) for name, spec in entry["fields"].items()}
        _check_fields(where, entry["products"], fields)
        graphql_types = _graphql_types(where, entry, fields)
        partners[entry["id"]] = ConnectorConfig(
            id=entry["id"], name=entry["name"], protocol=entry["protocol"],
            base_url=entry["base_url"].rstrip("/"), credential=_expand(entry["credential"], where, allow_missing_env),
            contract_prefix=entry["contract_prefix"], id_field=entry["id_field"],
            product_field=entry["product_field"], products=dict(entry["products"]), fields=fields,
            timeout_s=entry.get("timeout_ms", 2000) / 1000, max_batch_size=entry.get("max_batch_size", 50),
            max_concurrency=entry.get("max_concurrency", 8), retries=entry.get("retries", 1),
            retry_budget=entry.get("retry_budget", 0.2), breaker_failures=entry.get("breaker_failures", 5),
            breaker_cooldown_s=entry.get("breaker_cooldown_ms", 10_000) / 1000,
            batch_path=entry.get("batch_path", "/v1/contracts/batch"),
            field_selection=entry.get("field_selection", True),
            graphql_typename=entry.get("graphql_typename", ""), graphql_types=graphql_types,
        )
    prefixes = [p.contract_prefix for p in partners.values()]
    if len(set(prefixes)) != len(prefixes):
        raise PartnersConfigError(f"{source}: two partners share a contract_prefix")
    return PartnersConfig(partners, deadline_s=raw.get("deadline_ms", 5000) / 1000, source=source)


def load(path: Path, overrides: dict[str, dict[str, Any]] | None = None, *,
         allow_missing_env: bool = False) -> PartnersConfig:
    """Read `path`; `overrides` (partner id -> keys) replaces values such as base_url at run time."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PartnersConfigError(f"{path}: not valid YAML: {exc}") from None
    for entry in (raw or {}).get("partners", []) if isinstance(raw, dict) else []:
        entry.update((overrides or {}).get(entry.get("id"), {}))
    return parse(raw, str(path), allow_missing_env=allow_missing_env)


def _field_map(spec: str | dict[str, Any]) -> FieldMap:
    if isinstance(spec, str):
        return FieldMap(spec)
    return FieldMap(spec["from"], dict(spec["fields"]))


def _graphql_types(where: str, entry: dict[str, Any], fields: dict[str, FieldMap]) -> dict[str, GraphQLType]:
    """Per joint contract type: the partner's type name and the fields mapped for it (the shared `fields`
    restricted to the type, then the type's own `fields` on top)."""
    raw = entry.get("graphql_types")
    if raw is None:
        return {}
    if entry["protocol"] != "graphql":
        raise PartnersConfigError(f"{where}: graphql_types is only for a graphql partner")
    offered = sorted({TYPE_OF_PRODUCT[p] for p in entry["products"].values()})
    unknown = sorted(set(raw) - set(offered))
    if unknown:
        raise PartnersConfigError(f"{where}: graphql_types names {', '.join(unknown)}, which its products do not offer "
                          f"(they offer {', '.join(offered)})")
    missing = [t for t in offered if t not in raw]
    if missing:  # its contracts would come back with no fields at all, every one a bad record
        raise PartnersConfigError(f"{where}: graphql_types has no entry for {', '.join(missing)}")
    result: dict[str, GraphQLType] = {}
    for joint_type, spec in raw.items():
        spec = {"typename": spec} if isinstance(spec, str) else spec
        own = {name: _field_map(s) for name, s in (spec.get("fields") or {}).items()}
        for name in own:
            if name not in CONTRACT_TYPES[joint_type]:
                raise PartnersConfigError(f"{where}: graphql_types/{joint_type}: '{name}' is not a field of "
                                          f"{joint_type}")
        _check_fields(f"{where}: graphql_types/{joint_type}", {"_": _a_product(joint_type)}, own)
        shared = {n: m for n, m in fields.items() if n in CONTRACT_TYPES[joint_type]}
        result[joint_type] = GraphQLType(spec["typename"], {**shared, **own})
    return result


def _a_product(joint_type: str) -> str:
    return next(p for p, t in TYPE_OF_PRODUCT.items() if t == joint_type)


def _check_fields(where: str, products: dict[str, str], fields: dict[str, FieldMap]) -> None:
    offered = {TYPE_OF_PRODUCT[p] for p in products.values()}
    known = {name: kind for t in offered for name, kind in CONTRACT_TYPES[t].items()}
    for name, spec in fields.items():
        if name not in known:
            raise PartnersConfigError(f"{where}: field '{name}' is not a field of {', '.join(sorted(offered))}")
        obj = object_of(known[name])
        if obj and spec.fields is None:
            raise PartnersConfigError(f"{where}: field '{name}' is a list of {obj}; map it with 'from' and 'fields'")
        for sub in (spec.fields or {}):
            if obj is None or sub not in OBJECTS[obj]:
                raise PartnersConfigError(f"{where}: '{name}.{sub}' is not a field of the joint model")
