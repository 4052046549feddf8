"""What the gateway knows of each partner system once `partners.yaml` is read (resolvers/connectors/
partners_file.py): where it is, how it is called, how its vocabulary maps onto the joint model. A connector
(resolvers/connectors/base.py) reads its entry as `self.config`."""

from __future__ import annotations

from dataclasses import dataclass, field


class PartnersConfigError(ValueError):
    """A partners configuration that cannot be used; the message names the file, the entry and the key."""


@dataclass(frozen=True, slots=True)
class FieldMap:
    source: str
    # for lists of objects (transactions, claims, positions): joint sub-field -> partner sub-field
    fields: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class GraphQLType:
    """One of a GraphQL partner's contract types: its name there and the mapping of its fields."""

    typename: str
    fields: dict[str, FieldMap]


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    id: str
    name: str
    protocol: str
    base_url: str
    credential: str
    contract_prefix: str
    id_field: str
    product_field: str
    products: dict[str, str]
    fields: dict[str, FieldMap]
    timeout_s: float = 2.0
    max_batch_size: int = 50
    max_concurrency: int = 8
    retries: int = 1  # extra tries of a batch read on a retryable failure
    retry_budget: float = 0.2  # retries add at most this fraction of the partner's calls (plus a small reserve)
    breaker_failures: int = 5  # consecutive failures that open the circuit
    breaker_cooldown_s: float = 10.0  # how long it stays open before one trial call
    batch_path: str = "/v1/contracts/batch"
    field_selection: bool = True
    graphql_typename: str = ""
    # joint contract type -> partner type, for a GraphQL partner with several entity types (empty: one type,
    # `graphql_typename`, whose fields are `fields`)
    graphql_types: dict[str, GraphQLType] = field(default_factory=dict)

    @property
    def product_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.products.values()))

    def fields_of(self, joint_type: str) -> dict[str, FieldMap]:
        """The mapping that applies to contracts of `joint_type` (`BankAccount`, `Loan`, ...)."""
        entry = self.graphql_types.get(joint_type)
        return self.fields if entry is None else entry.fields


@dataclass(frozen=True, slots=True)
class PartnersConfig:
    partners: dict[str, ConnectorConfig]
    deadline_s: float = 5.0
    source: str = field(default="<memory>", compare=False)
