"""What one gateway process holds, and the typed keys it is reached by: the settings it was started with,
the state its lifecycle builds (master, HTTP session, audit log, partners, connectors, rules, tracing), and
what one request carries through the middleware and the GraphQL route. The lowest floor of the gateway's
edge: app.py wires, middleware.py, health.py and reload.py read these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.cost import DEFAULT_MAX_COST
from gateway.cursors import Cursors
from gateway.gate import Outcome
from gateway.identity import IdentitySettings, Verifier
from gateway.operations import TrustedOperations
from gateway.policy_loader import DEMO_AGREEMENTS
from gateway.tracing import Tracing
from privacy import PolicySet, PseudonymKeys
from privacy.audit.store import AuditLog
from resolvers import Connector, Master, PartnersConfig


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    db_url: str
    jwks_path: Path | None  # the demo's and tests' JWKS file; `identity` (vcv serve) wins when given
    partners: PartnersConfig
    agreements_dir: Path = DEMO_AGREEMENTS
    # pseudonym keys: VCV_PSEUDONYM_KEY_<OWNER> in the environment, else <keys_dir>/<owner>.key
    keys_dir: Path | None = None
    max_body_bytes: int = 256 * 1024
    max_query_cost: int = DEFAULT_MAX_COST
    introspection: bool = True
    # Production: run only these registered operations (None: any operation within the limits).
    trusted_operations: TrustedOperations | None = None
    graphiql: bool = True
    # The audit log: its own database if given (else the master's), and the key that signs its checkpoints.
    audit_db_url: str | None = None
    audit_signing_key: Ed25519PrivateKey | None = None
    audit_checkpoint_every: int = 100
    # How long a request waits for its event's commit before AUDIT_UNAVAILABLE (and /readyz for a test write).
    audit_commit_timeout_s: float = 3.0
    # The file each commit's signed checkpoints are appended to, outside the database (None: none kept).
    audit_witness: Path | None = None
    # Where the partners configuration came from, so SIGHUP can re-read it (with the agreements directory).
    partners_file: Path | None = None
    reload_on_sighup: bool = False
    # OTLP/HTTP endpoint for OpenTelemetry traces; None: no tracing at all.
    traces_endpoint: str | None = None
    # Demo mode only: tokens the pages offer as one-click identities (role, label, purposes, token).
    demo_identities: list[dict[str, Any]] | None = None
    # Where tokens' keys come from and what they must say (issuer, audience, lifetime, claim mapping).
    identity: IdentitySettings | None = None
    # Answer the operations it covers with the planner (gateway/planner); off: strawberry answers everything.
    planner: bool = True


@dataclass(frozen=True, slots=True)
class Rules:
    """The agreements in force and the keys and cursors that go with them; a reload replaces them whole."""

    policy: PolicySet
    keys: PseudonymKeys
    cursors: Cursors


@dataclass(slots=True)
class GatewayState:
    master: Master
    session: aiohttp.ClientSession
    audit: AuditLog
    # Replaced as a whole by a reload (SIGHUP); a request keeps the ones it started with.
    partners: PartnersConfig
    connectors: dict[str, Connector]
    rules: Rules
    tracing: Tracing


SETTINGS = web.AppKey("settings", GatewaySettings)
STATE = web.AppKey("state", GatewayState)  # set when the app starts (lifecycle), absent before
VERIFIER = web.AppKey("verifier", Verifier)

REQUEST_ID = web.RequestKey("request_id", str)  # set by the first middleware (gateway/middleware.py)
OUTCOME = web.RequestKey("outcome", Outcome)  # what the gate made of the request, for the log and the trace
