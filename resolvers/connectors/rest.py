"""REST/JSON partners: `POST {batch_path}` with `{"ids": [...], "fields": [...]}`, answered by
`{"contracts": [...], "not_found": [...]}` (see docs/partners.md)."""

from __future__ import annotations

from typing import Any

import orjson

from resolvers.connectors.base import Batch, Connector
from resolvers.source_errors import PartnerError


class RestConnector(Connector):
    async def call_batch(self, batch: Batch) -> list[Any]:
        body: dict[str, Any] = {"ids": batch.ids}
        if self.config.field_selection:
            body["fields"] = batch.fields
        async with self.session.post(self.config.base_url + self.config.batch_path, data=orjson.dumps(body),
                                     headers={**batch.headers, "Content-Type": "application/json"}) as response:
            if response.status != 200:
                raise self.status_error(response)
            payload = await response.json(content_type=None, loads=orjson.loads)
        if not isinstance(payload, dict) or not isinstance(payload.get("contracts"), list):
            raise PartnerError("PARTNER_BAD_RESPONSE", self.config.id, "no 'contracts' list")
        records: list[Any] = payload["contracts"]
        return records  # `not_found` needs no reading: an ID not answered is reported as such
