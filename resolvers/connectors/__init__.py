"""Partner connectors: where each partner system is called. `build_connectors` turns the configuration
into one connector per partner sharing one HTTP session; a new protocol is a `Connector` subclass
registered with `register_protocol` (docs/connectors.md)."""

from __future__ import annotations

from resolvers.connectors.base import Batch, CallContext, Connector
from resolvers.connectors.connector_config import ConnectorConfig, PartnersConfig, PartnersConfigError
from resolvers.connectors.protocols import build_connectors, protocol_names, register_protocol

__all__ = ["Batch", "CallContext", "Connector", "ConnectorConfig", "PartnersConfig", "PartnersConfigError",
           "build_connectors", "protocol_names", "register_protocol"]
