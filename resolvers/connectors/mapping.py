"""From a partner's vocabulary to the joint model: pick the mapped fields, check each value's type, and
drop everything else (a partner's unknown extra fields never travel further than this module)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from resolvers.connectors.connector_config import ConnectorConfig
from resolvers.joint import CONTRACT_TYPES, OBJECTS, TYPE_OF_PRODUCT, object_of
from resolvers.values import ContractValues, MoneyValue


class BadRecord(ValueError):
    """A partner record that does not fit the joint model; its message names fields, never values."""


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def partner_fields(config: ConnectorConfig, joint_fields: Iterable[str]) -> list[str]:
    """The partner's names for the joint fields wanted, in a stable order, for field-level minimisation."""
    return sorted({config.fields[name].source for name in joint_fields if name in config.fields})


def to_joint(config: ConnectorConfig, record: Any, wanted: Iterable[str]) -> ContractValues:
    if not isinstance(record, dict):
        raise BadRecord("record is not an object")
    contract_id = record.get(config.id_field)
    if not isinstance(contract_id, str):
        raise BadRecord(f"'{config.id_field}' is missing or not a string")
    code = record.get(config.product_field)
    product_type = config.products.get(code) if isinstance(code, str) else None
    if product_type is None:
        raise BadRecord(f"{contract_id}: unknown product code in '{config.product_field}'")
    joint_type = TYPE_OF_PRODUCT[product_type]
    kinds = CONTRACT_TYPES[joint_type]
    mapped = config.fields_of(joint_type)
    values: dict[str, Any] = {}
    for name in wanted:
        spec = mapped.get(name)
        if spec is None or name not in kinds:
            continue
        raw = record.get(spec.source)
        try:
            values[name] = _coerce(kinds[name], raw, spec.fields)
        except (TypeError, ValueError, InvalidOperation):
            raise BadRecord(f"{contract_id}: field '{spec.source}' has the wrong type") from None
    return ContractValues(contract_id, config.id, product_type, values)


def _coerce(kind: str, raw: Any, sub_map: dict[str, str] | None = None) -> Any:
    if raw is None:
        return None
    obj = object_of(kind)
    if obj is not None:
        if not isinstance(raw, list) or sub_map is None:
            raise TypeError(kind)
        return [_object(obj, item, sub_map) for item in raw]
    if kind == "[string]":
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise TypeError(kind)
        return list(raw)
    if kind == "string":
        if not isinstance(raw, str):
            raise TypeError(kind)
        return raw
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise TypeError(kind)
        return float(raw)
    if kind == "decimal":
        return _decimal(raw)
    if kind == "date":
        if not isinstance(raw, str):
            raise TypeError(kind)
        return date.fromisoformat(raw)
    if kind == "money":
        if not isinstance(raw, dict) or not isinstance(raw.get("currency"), str):
            raise TypeError(kind)
        if not _CURRENCY.match(raw["currency"]):
            raise ValueError(kind)
        return MoneyValue(_decimal(raw.get("amount")), raw["currency"])
    raise TypeError(f"unknown kind {kind}")


def _decimal(raw: Any) -> Decimal:
    # Amounts travel as strings (exact); an int is exact too. A float is refused: money is never float.
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise TypeError("decimal")
    value = Decimal(raw)
    if not value.is_finite():
        raise ValueError("decimal")
    return value


def _object(obj: str, item: Any, sub_map: dict[str, str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise TypeError(obj)
    return {name: _coerce(OBJECTS[obj][name], item.get(source)) for name, source in sub_map.items()}
