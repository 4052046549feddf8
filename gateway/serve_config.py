"""How `vcv serve` is configured: command-line flags, then `VCV_*` environment variables, then a YAML file
(`--config` or `VCV_CONFIG`), then defaults — the first that says something wins.

The file holds what may be checked in next to a deployment (URLs of files, limits, worker count); secrets
stay out of it: the audit signing key comes from `VCV_AUDIT_SIGNING_KEY` or a key file, pseudonym keys from
`VCV_PSEUDONYM_KEY_<OWNER>` or a key directory, partner credentials from the variables the partners file
names, the cursor key from `VCV_CURSOR_KEY`. An unknown key in the file is an error, so a typo does not
silently leave a default in force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from gateway.claims import ClaimMapping
from gateway.cost import DEFAULT_MAX_COST


class ServeConfigError(ValueError):
    """A configuration that cannot be used; the message names the setting and where it came from."""


class ServeConfig(BaseSettings):
    """Everything `vcv serve` needs to start. Field names are the file's keys; `VCV_<NAME>` overrides."""

    model_config = SettingsConfigDict(env_prefix="VCV_", extra="forbid", frozen=True)

    database_url: str = Field(description="the customer master, e.g. postgresql+asyncpg://vcv@db/vcv")
    audit_database_url: str | None = Field(None, description="the audit log's database (default: the master's)")
    # Identity: one of a JWKS file, a JWKS URL or an issuer (discovery) is required; there is no default, and
    # never the demo's keys.
    jwks: Path | None = Field(None, description="public keys of the identity provider (JWKS JSON file)")
    jwks_url: str | None = Field(None, description="the identity provider's JWKS URL, fetched and refreshed")
    issuer: str | None = Field(None, description="the provider's issuer URL: tokens' `iss` must equal it; "
                               "without jwks/jwks_url, keys are found by OpenID Connect discovery")
    audience: str | None = Field(None, description="tokens' `aud` must contain it (required with a provider URL)")
    max_token_lifetime_s: int = Field(24 * 3600, ge=1, description="refuse tokens minted for longer (exp - iat)")
    token_leeway_s: int = Field(30, ge=0, le=300, description="clock skew tolerated for exp, nbf, iat")
    claims: ClaimMapping = Field(ClaimMapping(), description="where role, purposes and IDs come from")
    jwks_refresh_s: float = Field(300.0, ge=1, description="how often the provider's keys are fetched again")
    jwks_refetch_min_s: float = Field(10.0, ge=0, description="at most one fetch per this for an unknown kid")
    token_cache_size: int = Field(10_000, ge=0, description="verified tokens remembered until they expire")
    partners: Path = Field(description="partners file (connectors, timeouts, breakers)")
    # No default: a production gateway never falls back to the demo's agreements (`vcv demo` brings its own).
    agreements: Path = Field(description="directory of data-sharing agreements")
    keys_dir: Path | None = Field(None, description="pseudonym keys <owner>.key; the environment wins")
    operations: Path | None = Field(None, description="registered operations; only these run (production)")
    audit_key_file: Path | None = Field(None, description="audit signing key (hex); VCV_AUDIT_SIGNING_KEY wins")
    audit_checkpoint_every: int = Field(100, ge=1, description="events between checkpoints kept for good (every "
                                        "commit signs the chain's head as well)")
    audit_commit_timeout_s: float = Field(3.0, gt=0, le=60, description="longest wait for an audit commit before "
                                          "AUDIT_UNAVAILABLE; /readyz proves a write within it")
    audit_witness: Path | None = Field(Path("audit-witness.jsonl"), description="file (outside the database) each "
                                       "commit's signed checkpoints are appended to; null: none")
    introspection: bool = True
    graphiql: bool = True
    planner: bool = Field(True, description="answer what it covers with the planner (off: strawberry only)")
    max_query_cost: int = Field(DEFAULT_MAX_COST, ge=1)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64, description="processes serving one port (gunicorn) when more than 1")
    graceful_timeout_s: float = Field(30.0, gt=0, description="how long in-flight requests may take on stop")
    traces_endpoint: str | None = Field(
        None, description="OTLP/HTTP endpoint for OpenTelemetry traces (…/v1/traces); none: no tracing")

    @field_validator("jwks", "partners", "operations", "audit_key_file")
    @classmethod
    def _existing_file(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @field_validator("audit_witness")
    @classmethod
    def _writable_place(cls, path: Path | None) -> Path | None:
        if path is not None and not path.parent.is_dir():
            raise ValueError(f"no such directory for the witness file: {path.parent}")
        if path is not None and path.is_dir():
            raise ValueError(f"a directory, not a file: {path}")
        return path

    @field_validator("jwks_url", "issuer")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"not an http(s) URL: {url}")
        return url

    @model_validator(mode="after")
    def _identity(self) -> ServeConfig:
        if self.jwks is None and self.jwks_url is None and self.issuer is None:
            raise ValueError("no identity provider configured: give `jwks` (a JWKS file), `jwks_url` or `issuer` "
                             "(flags --jwks, --jwks-url, --issuer; VCV_JWKS, VCV_JWKS_URL, VCV_ISSUER); "
                             "vcv serve never uses the demo's keys")
        if self.jwks is not None and self.jwks_url is not None:
            raise ValueError("identity: give `jwks` (a file) or `jwks_url`, not both")
        if self.jwks is None and self.audience is None:
            # A provider signs tokens for all its applications; without an audience, a token it issued for
            # any of them would open this gateway.
            raise ValueError("identity: `audience` is required with a provider's keys (jwks_url or issuer): "
                             "the client ID or resource the provider puts in the tokens' aud claim")
        return self

    @field_validator("agreements")
    @classmethod
    def _existing_directory(cls, path: Path) -> Path:
        if not path.is_dir():
            raise ValueError(f"no such directory: {path}")
        return path

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls)


def load_config(path: Path | None = None, **flags: Any) -> ServeConfig:
    """Flags given on the command line (None: not given), the environment, then the file at `path`."""
    if path is not None:
        _check_file(path)

    class FromFile(ServeConfig):
        model_config = SettingsConfigDict(yaml_file=path, yaml_file_encoding="utf-8")

    try:
        return FromFile(**{name: value for name, value in flags.items() if value is not None})
    except ValidationError as exc:
        raise ServeConfigError(_explain(exc, path)) from None


def _check_file(path: Path) -> None:
    # pydantic-settings would report these as a bare parser or type error without the file's name.
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServeConfigError(f"configuration file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ServeConfigError(f"configuration file {path}{line}: not valid YAML "
                               f"({getattr(exc, 'problem', exc)})") from None
    if content is not None and not isinstance(content, dict):
        raise ServeConfigError(f"configuration file {path}: expected a mapping of settings (`port: 8080`), "
                          f"found a {type(content).__name__}")


def _explain(exc: ValidationError, path: Path | None) -> str:
    where = f" (flags, VCV_* environment{f', {path}' if path else ''})"
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        if not name:  # a rule across settings: its message names them
            problems.append(error["msg"].removeprefix("Value error, "))
            continue
        message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
        if error["type"] == "missing":
            message = f"required (a flag, VCV_{name.upper()} or `{name}:` in the configuration file)"
        problems.append(f"{name}: {message}")
    return "invalid configuration" + where + ": " + "; ".join(problems)
