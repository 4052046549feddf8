"""GraphQL partners that are Apollo Federation subgraphs: contracts are entities keyed by their ID and
fetched in one `_entities` query, selecting only the fields wanted.

A partner with one contract type (`graphql_typename: PropertyPolicy`) gets one fragment on that type. A
partner with several (`graphql_types: {BankAccount: Account, Loan: Credit}`) gets one fragment per type in the
same query, each with that type's own mapping. The representations all name `graphql_typename`: the gateway
knows a contract by its ID only, so that type must resolve any of the partner's contract IDs, typically an
entity interface (`interface BankContract @key(fields: "contractId")`, Federation 2.3) that every type
implements (docs/partners.md)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from cachetools import LRUCache

from resolvers.connectors.base import Batch, Connector
from resolvers.connectors.breaker import CircuitBreaker
from resolvers.connectors.connector_config import ConnectorConfig, FieldMap
from resolvers.joint import CONTRACT_TYPES, OBJECTS, TYPE_OF_PRODUCT, object_of
from resolvers.source_errors import PartnerError


class GraphQLConnector(Connector):
    def __init__(self, config: ConnectorConfig, session: aiohttp.ClientSession,
                 breaker: CircuitBreaker | None = None) -> None:
        super().__init__(config, session, breaker)
        self._queries: LRUCache[frozenset[str], str] = LRUCache(1024)  # callers choose the fields: bounded

    def _fragments(self, joint_fields: frozenset[str]) -> str:
        config = self.config
        if not config.graphql_types:
            kinds = {name: kind for p in config.product_types
                     for name, kind in CONTRACT_TYPES[TYPE_OF_PRODUCT[p]].items()}
            return f"... on {config.graphql_typename} {{ {self._selection(joint_fields, kinds, config.fields)} }}"
        # Joint types may share one partner type (a bank's `Account` for current accounts and savings alike):
        # one fragment per partner type, selecting what each of its joint types needs.
        grouped: dict[str, tuple[dict[str, str], dict[str, FieldMap]]] = {}
        for joint_type, entry in config.graphql_types.items():
            kinds, mapped = grouped.setdefault(entry.typename, ({}, {}))
            kinds.update(CONTRACT_TYPES[joint_type])
            mapped.update(entry.fields)
        return " ".join(f"... on {typename} {{ {self._selection(joint_fields, kinds, mapped)} }}"
                        for typename, (kinds, mapped) in grouped.items())

    def _selection(self, joint_fields: frozenset[str], kinds: dict[str, str], mapped: dict[str, FieldMap]) -> str:
        parts = [self.config.id_field, self.config.product_field]
        for name in sorted(joint_fields):
            spec = mapped.get(name)
            if spec is None or name not in kinds:
                continue
            obj = object_of(kinds[name])
            if obj and spec.fields:
                subs = " ".join(_leaf(src, OBJECTS[obj][sub]) for sub, src in sorted(spec.fields.items()))
                parts.append(f"{spec.source} {{ {subs} }}")
            else:
                parts.append(_leaf(spec.source, kinds[name]))
        return " ".join(dict.fromkeys(parts))

    def _query(self, joint_fields: frozenset[str]) -> str:
        """The `_entities` query for these fields, written once per set of fields."""
        query = self._queries.get(joint_fields)
        if query is None:
            query = self._queries[joint_fields] = (
                "query Lookup($representations: [_Any!]!) { _entities(representations: $representations) "
                f"{{ {self._fragments(joint_fields)} }} }}")
        return query

    async def call_batch(self, batch: Batch) -> list[Any]:
        typename = self.config.graphql_typename
        query = self._query(batch.joint_fields)
        representations = [{"__typename": typename, self.config.id_field: i} for i in batch.ids]
        body = orjson.dumps({"query": query, "variables": {"representations": representations},
                             "operationName": "Lookup"})
        response = await self.post_batch(body, batch.headers)
        if response.status != 200:
            raise self.status_error(response)
        payload = orjson.loads(response.body)
        data = payload.get("data") if isinstance(payload, dict) else None
        entities = data.get("_entities") if isinstance(data, dict) else None
        if not isinstance(entities, list):
            raise PartnerError("PARTNER_BAD_RESPONSE", self.config.id, "no _entities in the answer")
        return [e for e in entities if e is not None]  # null: an entity the subgraph does not know


def _leaf(source: str, kind: str) -> str:
    return f"{source} {{ amount currency }}" if kind == "money" else source
