"""Partner connectors: where each partner system is called. `build_connectors` turns the configuration
into one connector per partner sharing one HTTP session."""

from __future__ import annotations

import aiohttp

from resolvers.connectors.base import CallContext, Connector
from resolvers.connectors.graphql import GraphQLConnector
from resolvers.connectors.partners_file import ConnectorConfig, PartnersConfig
from resolvers.connectors.rest import RestConnector

__all__ = ["CallContext", "Connector", "ConnectorConfig", "PartnersConfig", "build_connectors"]


def build_connectors(config: PartnersConfig, session: aiohttp.ClientSession) -> dict[str, Connector]:
    kinds: dict[str, type[Connector]] = {"rest": RestConnector, "graphql": GraphQLConnector}
    return {pid: kinds[c.protocol](c, session) for pid, c in config.partners.items()}
