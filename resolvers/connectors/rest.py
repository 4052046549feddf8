"""REST/JSON partners: `POST {batch_path}` with `{"ids": [...], "fields": [...]}`, answered by
`{"contracts": [...], "not_found": [...]}` (see docs/partners.md)."""

from __future__ import annotations

from typing import Any

import orjson

from resolvers.connectors.base import Connector, Reply
from resolvers.source_errors import PartnerError


class RestConnector(Connector):
    async def _call(self, ids: list[str], wanted: list[str], joint_fields: set[str],
                    headers: dict[str, str]) -> Reply:
        body: dict[str, Any] = {"ids": ids}
        if self.config.field_selection:
            body["fields"] = wanted
        async with self._session.post(self.config.base_url + self.config.batch_path, data=orjson.dumps(body),
                                      headers={**headers, "Content-Type": "application/json"}) as response:
            if response.status != 200:
                raise self._status_error(response)
            payload = await response.json(content_type=None, loads=orjson.loads)
        if not isinstance(payload, dict) or not isinstance(payload.get("contracts"), list):
            raise PartnerError("PARTNER_BAD_RESPONSE", self.config.id, "no 'contracts' list")
        not_found = payload.get("not_found") or []
        return Reply(payload["contracts"], [x for x in not_found if isinstance(x, str)])
