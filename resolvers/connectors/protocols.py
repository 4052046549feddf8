"""The one registry of protocols: the name a partner's `protocol:` takes in partners.yaml -> the `Connector`
subclass that calls it. The partners file's JSON Schema offers exactly these names (partners_file.py) and
`build_connectors` builds from them, so a protocol is added here, or by one `register_protocol` call, and
nowhere else (docs/connectors.md)."""

from __future__ import annotations

import re

import aiohttp

from resolvers.connectors.base import Connector
from resolvers.connectors.connector_config import PartnersConfig, PartnersConfigError
from resolvers.connectors.graphql import GraphQLConnector
from resolvers.connectors.rest import RestConnector

_PROTOCOLS: dict[str, type[Connector]] = {"rest": RestConnector, "graphql": GraphQLConnector}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def register_protocol(name: str, connector: type[Connector]) -> None:
    """Let partners.yaml say `protocol: <name>` for partners that `connector` (a subclass of Connector that
    implements `call_batch`) calls. Register before the partners file is read. A name is taken once: the
    same class again is a no-op, another class under a taken name is refused."""
    if not _NAME.match(name):
        raise ValueError(f"protocol name {name!r}: lower-case letters, digits, _ and -, starting with a letter")
    if Connector not in getattr(connector, "__mro__", ()) or connector.call_batch is Connector.call_batch:
        raise TypeError(f"protocol {name!r}: {connector!r} is not a subclass of resolvers.Connector that "
                        "implements call_batch")
    known = _PROTOCOLS.setdefault(name, connector)
    if known is not connector:
        raise ValueError(f"protocol {name!r} is taken by {known.__module__}.{known.__qualname__}")


def protocol_names() -> list[str]:
    """The registered protocols, sorted."""
    return sorted(_PROTOCOLS)


def build_connectors(config: PartnersConfig, session: aiohttp.ClientSession) -> dict[str, Connector]:
    """One connector per partner, of its protocol's class, all sharing the gateway's HTTP session."""
    connectors = {}
    for pid, entry in config.partners.items():
        kind = _PROTOCOLS.get(entry.protocol)
        if kind is None:  # a PartnersConfig built in code, not read from a file (which the schema checks)
            raise PartnersConfigError(f"{config.source}: partner {pid}: unknown protocol {entry.protocol!r}; "
                                      f"the registered protocols are {', '.join(protocol_names())}")
        connectors[pid] = kind(entry, session)
    return connectors
