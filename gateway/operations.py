"""Trusted (persisted) operations: in production the gateway can run only operations registered ahead of
time by the front-end teams, so no one can send a query shape nobody reviewed.

The registry is a JSON file: `{"CustomerView": "query CustomerView($id: ID!) { … }", …}`. An operation is
known by the SHA-256 of its exact text (hex), the Apollo persisted-query convention: a client sends
`{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}, "variables": …}` without the
text, or the text itself, which is accepted only when it is registered verbatim."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """One operation as a transport received it (GraphQL over HTTP: POST body or GET parameters)."""

    query: str | None
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None


class OperationRefused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def operation_hash(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TrustedOperations:
    by_hash: dict[str, str]
    names: dict[str, str]  # hash -> the name it was registered under, for `vcv operations`

    @classmethod
    def load(cls, path: Path) -> TrustedOperations:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable JSON file: {exc}") from None
        if not isinstance(raw, dict) or not raw or not all(isinstance(v, str) and v.strip() for v in raw.values()):
            raise ValueError(f"{path}: expected an object of operation name -> GraphQL document")
        return cls({operation_hash(doc): doc for doc in raw.values()},
                   {operation_hash(doc): name for name, doc in raw.items()})

    def resolve(self, data: GraphQLRequest) -> GraphQLRequest:
        persisted: Any = (data.extensions or {}).get("persistedQuery")
        wanted = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if wanted is not None and not isinstance(wanted, str):
            raise OperationRefused("BAD_REQUEST", "extensions.persistedQuery.sha256Hash must be a hex string")
        if data.query is not None:
            if wanted is not None and operation_hash(data.query) != wanted:
                raise OperationRefused("BAD_REQUEST", "the query text does not match its sha256Hash")
            if operation_hash(data.query) not in self.by_hash:
                raise OperationRefused("PERSISTED_QUERY_REQUIRED", "this gateway runs only registered operations; "
                                       "send extensions.persistedQuery.sha256Hash of a registered one")
            return data
        if wanted is None:
            raise OperationRefused("PERSISTED_QUERY_REQUIRED", "send extensions.persistedQuery.sha256Hash")
        document = self.by_hash.get(wanted.lower())
        if document is None:
            raise OperationRefused("PERSISTED_QUERY_NOT_FOUND", "no registered operation has this sha256Hash")
        return replace(data, query=document)
