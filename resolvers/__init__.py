"""Where the data comes from: the customer master (SQLAlchemy), the partner systems (connectors), the
per-request loaders that batch their reads, and the joint data model both are mapped onto.

This is the package's public surface: callers import from `resolvers`, never from the modules behind it,
so those can be rearranged freely. `models` (the master's tables) is public as a module."""

from resolvers import models
from resolvers.connectors import (
    Batch,
    CallContext,
    Connector,
    ConnectorConfig,
    PartnersConfig,
    PartnersConfigError,
    build_connectors,
    protocol_names,
    register_protocol,
)
from resolvers.connectors.partner_metrics import CIRCUIT_STATES, PARTNER_CIRCUIT
from resolvers.connectors.partners_file import load as load_partners
from resolvers.connectors.partners_file import parse
from resolvers.database import create_engine, migrate, session_factory
from resolvers.joint import (
    CONTRACT_ID,
    CONTRACT_TYPES,
    MASTER_OWNER,
    OBJECTS,
    PRODUCT_TYPES,
    TYPE_OF_PRODUCT,
    attribute_name,
    catalogue,
    object_of,
)
from resolvers.loaders import PartnerLoaders
from resolvers.master import NO_CUSTOMER, CustomerView, Master, MasterLoaders, Visibility
from resolvers.onboarding import OnboardingError, onboard
from resolvers.pseudonym_index import Progress as IndexProgress
from resolvers.source_errors import PARTNER_CODES, MasterUnavailable, PartnerError
from resolvers.values import ContractRef, ContractValues, MoneyValue

__all__ = [
    "CIRCUIT_STATES", "CONTRACT_ID", "CONTRACT_TYPES", "MASTER_OWNER", "NO_CUSTOMER", "OBJECTS",
    "PARTNER_CIRCUIT", "PARTNER_CODES", "PRODUCT_TYPES", "TYPE_OF_PRODUCT",
    "Batch", "CallContext", "Connector", "ConnectorConfig", "ContractRef", "ContractValues", "CustomerView",
    "IndexProgress",
    "Master", "MasterLoaders", "MasterUnavailable", "MoneyValue", "OnboardingError", "PartnerError",
    "PartnerLoaders", "PartnersConfig", "PartnersConfigError", "Visibility",
    "attribute_name", "build_connectors", "catalogue", "create_engine", "load_partners", "migrate", "models",
    "object_of", "onboard", "parse", "protocol_names", "register_protocol", "session_factory",
]
