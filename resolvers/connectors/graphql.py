"""GraphQL partners that are Apollo Federation subgraphs: contracts are entities keyed by their ID and
fetched in one `_entities` query, selecting only the fields wanted."""

from __future__ import annotations

import orjson

from resolvers.connectors.base import Connector, Reply
from resolvers.errors import PartnerError
from resolvers.joint import CONTRACT_TYPES, OBJECTS, TYPE_OF_PRODUCT, object_of


class GraphQLConnector(Connector):
    def _selection(self, joint_fields: set[str]) -> str:
        kinds = {name: kind for p in self.config.product_types
                 for name, kind in CONTRACT_TYPES[TYPE_OF_PRODUCT[p]].items()}
        parts = [self.config.id_field, self.config.product_field]
        for name in sorted(joint_fields):
            spec = self.config.fields.get(name)
            if spec is None:
                continue
            obj = object_of(kinds[name])
            if obj and spec.fields:
                subs = " ".join(_leaf(src, OBJECTS[obj][sub]) for sub, src in sorted(spec.fields.items()))
                parts.append(f"{spec.source} {{ {subs} }}")
            else:
                parts.append(_leaf(spec.source, kinds[name]))
        return " ".join(dict.fromkeys(parts))

    async def _call(self, ids: list[str], wanted: list[str], joint_fields: set[str],
                    headers: dict[str, str]) -> Reply:
        typename = self.config.graphql_typename
        query = ("query Lookup($representations: [_Any!]!) { _entities(representations: $representations) "
                 f"{{ ... on {typename} {{ {self._selection(joint_fields)} }} }} }}")
        representations = [{"__typename": typename, self.config.id_field: i} for i in ids]
        body = orjson.dumps({"query": query, "variables": {"representations": representations},
                             "operationName": "Lookup"})
        async with self._session.post(self.config.base_url + self.config.batch_path, data=body,
                                      headers={**headers, "Content-Type": "application/json"}) as response:
            if response.status != 200:
                raise self._status_error(response)
            payload = await response.json(content_type=None, loads=orjson.loads)
        data = payload.get("data") if isinstance(payload, dict) else None
        entities = data.get("_entities") if isinstance(data, dict) else None
        if not isinstance(entities, list):
            raise PartnerError("PARTNER_BAD_RESPONSE", self.config.id, "no _entities in the answer")
        found = [e for e in entities if e is not None]
        missing = [i for i, e in zip(ids, entities, strict=False) if e is None]
        return Reply(found, missing)


def _leaf(source: str, kind: str) -> str:
    return f"{source} {{ amount currency }}" if kind == "money" else source
