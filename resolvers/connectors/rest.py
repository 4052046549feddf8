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
        response = await self.post_batch(orjson.dumps(body), batch.headers)
        if response.status != 200:
            raise self.status_error(response)
        payload = orjson.loads(response.body)
        if not isinstance(payload, dict) or not isinstance(payload.get("contracts"), list):
            raise PartnerError("PARTNER_BAD_RESPONSE", self.config.id, "no 'contracts' list")
        records: list[Any] = payload["contracts"]
        return records  # `not_found` needs no reading: an ID not answered is reported as such
