"""Where the data comes from: the customer master (SQLAlchemy), the partner systems (connectors), the
per-request loaders that batch their reads, and the joint data model both are mapped onto.

This is the package's public surface: callers import from `resolvers`, never from the modules behind it,
so those can be rearranged freely. `models` (the master's tables) is public as a module."""

from resolvers import models
from resolvers.connectors import CallContext, Connector, ConnectorConfig, PartnersConfig, build_connectors
from resolvers.connectors.config import ConfigError, parse
from resolvers.connectors.config import load as load_partners
from resolvers.connectors.metrics import CIRCUIT_STATES, PARTNER_CIRCUIT
from resolvers.database import create_engine, migrate, session_factory
from resolvers.errors import PARTNER_CODES, MasterUnavailable, PartnerError
from resolvers.joint import (
    CONTRACT_ID,
    CONTRACT_TYPES,
    MASTER_OWNER,
    OBJECTS,
    PRODUCT_TYPES,
    TYPE_OF_PRODUCT,
    catalogue,
    object_of,
)
from resolvers.loaders import PartnerLoaders
from resolvers.master import NO_CUSTOMER, CustomerView, Master, MasterLoaders, Visibility
from resolvers.onboarding import OnboardingError, onboard
from resolvers.pseudonym_index import Progress as IndexProgress
from resolvers.types import ContractRef, ContractValues, Money

__all__ = [
    "CIRCUIT_STATES", "CONTRACT_ID", "CONTRACT_TYPES", "MASTER_OWNER", "NO_CUSTOMER", "OBJECTS", "PARTNER_CIRCUIT",
    "PARTNER_CODES", "PRODUCT_TYPES", "TYPE_OF_PRODUCT",
    "CallContext", "ConfigError", "Connector", "ConnectorConfig", "ContractRef", "ContractValues", "CustomerView",
    "IndexProgress", "Master", "MasterLoaders", "MasterUnavailable", "Money", "OnboardingError", "PartnerError",
    "PartnerLoaders", "PartnersConfig", "Visibility",
    "build_connectors", "catalogue", "create_engine", "load_partners", "migrate", "models", "object_of", "onboard",
    "parse", "session_factory",
]
