"""`vcv`: the one command-line entry point. Each sub-command imports its module lazily so that
`vcv token` does not pay for starting SQLAlchemy or strawberry."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from gateway.logs import LogFormat, configure_logging
from gateway.tokens import DEFAULT_DATA_DIR

if TYPE_CHECKING:  # the commands import these lazily, so `vcv token` does not load the policy engine
    from privacy import Catalogue, PolicySet

T = TypeVar("T")
_ROOT = Path(__file__).resolve().parent.parent
DEMO_AGREEMENTS = _ROOT / "fixtures" / "agreements"
DEMO_PARTNERS = _ROOT / "fixtures" / "partners.yaml"


@click.group()
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="VCV_LOG_FORMAT", help="json: one object per line with the request ID, for log shippers")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              default="INFO", show_default=True, envvar="VCV_LOG_LEVEL")
def main(log_format: LogFormat, log_level: str) -> None:
    """Virtual Customer View: a federated, privacy-correct GraphQL view of each customer."""
    configure_logging(log_format, log_level)


@main.group()
def db() -> None:
    """Customer master database."""


@db.command("upgrade")
@click.option("--db", "db_url", required=True)
def db_upgrade(db_url: str) -> None:
    """Run the Alembic migrations up to the newest revision."""
    from resolvers import migrate

    migrate(db_url)
    click.echo("customer master schema is at head")


@main.command("onboard")
@click.argument("partner_id")
@click.option("--db", "db_url", required=True, help="the customer master, e.g. sqlite+aiosqlite:///master.db")
@click.option("--partners", "partners_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="the connector file with PARTNER_ID's entry (name, prefix, product codes)")
@click.option("--contracts", "contracts_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or JSON: customer_id, contract_id, product_code [, status, start_date, end_date]")
@click.option("--dry-run", is_flag=True, help="check everything and say what would be written; write nothing")
def onboard_partner(partner_id: str, db_url: str, partners_file: Path, contracts_file: Path | None,
                     dry_run: bool) -> None:
    """Register PARTNER_ID in the customer master and import its contract references, all or nothing.

    Every line is checked first (unknown customer, duplicate or already known contract, wrong prefix, unknown
    product code, bad date or status); any problem is printed with its file and line, exit status 1, and
    the master is left exactly as it was."""
    from resolvers import OnboardingError, PartnersConfigError, onboard
    from resolvers import load_partners as load

    try:
        config = load(partners_file, allow_missing_env=True)
    except PartnersConfigError as exc:
        raise click.ClickException(str(exc)) from None
    entry = config.partners.get(partner_id)
    if entry is None:
        raise click.UsageError(f"no partner {partner_id!r} in {partners_file}; it has "
                               f"{', '.join(sorted(config.partners))}")
    try:
        report = asyncio.run(onboard(db_url, entry, contracts_file, dry_run=dry_run))
    except OnboardingError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"{len(exc.problems)} problem(s); nothing was written", err=True)
        raise SystemExit(1) from None
    click.echo(report.summary())


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True)
@click.option("--role", required=True,
              type=click.Choice(["consultant", "customer", "partner", "service_agent", "compliance"]))
@click.option("--consultant-id")
@click.option("--customer-id")
@click.option("--partner-id")
@click.option("--purposes", required=True, help="comma-separated, e.g. advisory,lead_management")
@click.option("--ttl", type=click.IntRange(min=1), default=3600, show_default=True, help="seconds")
def token(data_dir: Path, role: str, consultant_id: str | None, customer_id: str | None,
          partner_id: str | None, purposes: str, ttl: int) -> None:
    """Print a token signed with the demo key in DATA_DIR (created on first use)."""
    from gateway.identity import ROLE_SUBJECT_CLAIM
    from gateway.tokens import mint

    needed = ROLE_SUBJECT_CLAIM.get(role)
    given = {"consultant_id": consultant_id, "customer_id": customer_id, "partner_id": partner_id}
    if needed and not given[needed]:
        raise click.UsageError(f"a {role} token needs --{needed.replace('_', '-')}")
    wanted = [p.strip() for p in purposes.split(",") if p.strip()]
    claim = {needed: given[needed]} if needed else {}  # only the ID the role needs goes into the token
    click.echo(mint(data_dir, role=role, purposes=wanted, ttl_s=ttl, consultant_id=claim.get("consultant_id"),
                    customer_id=claim.get("customer_id"), partner_id=claim.get("partner_id")))


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--partners", "partners_file", type=click.Path(exists=True, path_type=Path), default=DEMO_PARTNERS,
              show_default=True)
def keys(directory: Path, partners_file: Path) -> None:
    """Create every key a trial deployment needs in DIR (existing ones are kept): a token signing key and its
    JWKS (for `vcv token`; production verifies tokens of its identity provider instead), one pseudonym key per
    data owner, and the audit signing key."""
    from gateway.tokens import ensure_demo_signing_keys
    from privacy import ensure_demo_pseudonym_keys
    from privacy.audit.keys import generate
    from resolvers import load_partners

    owners = ["rm", *load_partners(partners_file, allow_missing_env=True).partners]
    jwks = ensure_demo_signing_keys(directory)
    pseudonyms = ensure_demo_pseudonym_keys(directory / "pseudonym-keys", owners)
    audit_key, audit_public = generate(directory)
    click.echo(f"VCV_JWKS={jwks}\nVCV_KEYS_DIR={pseudonyms}\naudit signing key: {audit_key}\n"
               f"audit public key:  {audit_public}")


@main.command()
def schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from gateway.schema import build_schema

    click.echo(build_schema().as_str())


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), envvar="VCV_CONFIG",
              help="YAML file of settings (keys as in docs/operations.md); flags and VCV_* variables win")
@click.option("--db", "database_url", help="the customer master's SQLAlchemy URL [VCV_DATABASE_URL]")
@click.option("--jwks", type=click.Path(path_type=Path), help="the identity provider's public keys, a JWKS file "
              "[VCV_JWKS]")
@click.option("--jwks-url", help="the identity provider's JWKS URL, refreshed while running [VCV_JWKS_URL]")
@click.option("--issuer", help="the identity provider's issuer URL: checked in tokens, and found by OpenID Connect "
              "discovery unless --jwks or --jwks-url is given [VCV_ISSUER]")
@click.option("--audience", help="tokens' aud must contain it [VCV_AUDIENCE]")
@click.option("--partners", type=click.Path(path_type=Path), help="partners file [VCV_PARTNERS]")
@click.option("--agreements", type=click.Path(path_type=Path),
              help="directory of data-sharing agreements [VCV_AGREEMENTS; default: the demo's]")
@click.option("--keys-dir", type=click.Path(path_type=Path),
              help="pseudonym keys <owner>.key; VCV_PSEUDONYM_KEY_<OWNER> wins [VCV_KEYS_DIR]")
@click.option("--operations", type=click.Path(path_type=Path),
              help="run only the operations registered in this JSON file, for production [VCV_OPERATIONS]")
@click.option("--audit-db", "audit_database_url", help="the audit log's database (default: the master's) "
              "[VCV_AUDIT_DATABASE_URL]")
@click.option("--audit-key", "audit_key_file", type=click.Path(path_type=Path),
              help="file with the audit signing key (hex); VCV_AUDIT_SIGNING_KEY wins [VCV_AUDIT_KEY_FILE]")
@click.option("--introspection/--no-introspection", default=None, help="[VCV_INTROSPECTION; default: on]")
@click.option("--graphiql/--no-graphiql", default=None, help="[VCV_GRAPHIQL; default: on]")
@click.option("--planner/--no-planner", default=None,
              help="answer the operations it covers with the planner, else strawberry alone [VCV_PLANNER; default: on]")
@click.option("--host", help="[VCV_HOST; default: 127.0.0.1]")
@click.option("--port", type=int, help="[VCV_PORT; default: 8080]")
@click.option("--workers", type=int, help="processes serving the port (gunicorn) [VCV_WORKERS; default: 1]")
@click.option("--traces-endpoint", help="OTLP/HTTP endpoint for OpenTelemetry traces [VCV_TRACES_ENDPOINT]")
def serve(config_file: Path | None, **flags: Any) -> None:
    """Run the gateway against an existing master and partner systems (production mode).

    Settings come from these flags, then VCV_* environment variables, then the --config file."""
    one_process = _one_process(config_file, flags["workers"])
    metrics_dir, parent = None if one_process else _metrics_shared_by_workers(), os.getpid()
    from gateway.serve import run
    from gateway.serve_config import ServeConfigError, load_config
    from privacy import AgreementError, PseudonymKeyError

    try:
        config = load_config(config_file, **flags)
        if one_process and config.workers > 1:  # cannot be, as long as _one_process reads like load_config
            raise click.ClickException("not starting: several workers, but metrics were set up for one process")
        run(config)
    except (ServeConfigError, ValueError, AgreementError, PseudonymKeyError) as exc:  # PartnersConfigError too
        raise click.ClickException(f"not starting: {exc}") from None
    finally:
        # Workers leave through here too (gunicorn re-raises their SystemExit after the fork).
        if metrics_dir is not None and os.getpid() == parent:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _one_process(config_file: Path | None, flag: int | None) -> bool:
    """Whether `vcv serve` will run one process, read before anything that defines a metric is imported
    (the configuration's own module is one): the flag, else VCV_WORKERS, else the file's `workers`, as
    load_config ranks them. Anything unclear counts as several: shared files also work for one process."""
    if flag is not None:
        return flag == 1
    environment = {name.upper(): value for name, value in os.environ.items()}  # pydantic-settings ignores case
    if "VCV_WORKERS" in environment:
        return environment["VCV_WORKERS"].strip() == "1"
    if config_file is None:
        return True  # the default
    import yaml

    try:
        settings = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # load_config says what is wrong with it
    return not isinstance(settings, dict) or settings.get("workers", 1) == 1


def _metrics_shared_by_workers() -> Path | None:
    """prometheus_client decides when it is first imported whether metric values live in memory or in files
    that several processes share; several workers want files, so that /metrics sums every worker whichever
    answers (one process keeps them in memory: a file write per update cost ~3 % of its CPU). A directory the
    operator set (PROMETHEUS_MULTIPROC_DIR) is theirs to empty before a restart."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") or "prometheus_client" in sys.modules:
        return None
    directory = Path(tempfile.mkdtemp(prefix="vcv-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


@main.command()
@click.argument("operations_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def operations(operations_file: Path) -> None:
    """List the registered operations of a trusted-operations file with the hash clients send."""
    from gateway.operations import TrustedOperations

    try:
        trusted = TrustedOperations.load(operations_file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for digest, name in sorted(trusted.names.items(), key=lambda item: item[1]):
        click.echo(f"{digest}  {name}")


@main.group()
def index() -> None:
    """Pseudonym indexes (what a partner's customer list and lookups by pseudonym read)."""


@index.command("build")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar="VCV_CONFIG", help="the `vcv serve` configuration file: database_url, partners, agreements "
              "and keys_dir are read from it; flags and VCV_* variables win")
@click.option("--db", "database_url", envvar="VCV_DATABASE_URL", help="the customer master [VCV_DATABASE_URL]")
@click.option("--partners", type=click.Path(path_type=Path), envvar="VCV_PARTNERS", help="[VCV_PARTNERS]")
@click.option("--agreements", type=click.Path(file_okay=False, path_type=Path), envvar="VCV_AGREEMENTS",
              help="[VCV_AGREEMENTS]")
@click.option("--keys-dir", type=click.Path(file_okay=False, path_type=Path), envvar="VCV_KEYS_DIR",
              help="pseudonym keys <owner>.key; VCV_PSEUDONYM_KEY_<OWNER> wins [VCV_KEYS_DIR]")
def index_build(config_file: Path | None, database_url: str | None, partners: Path | None,
                agreements: Path | None, keys_dir: Path | None) -> None:
    """Build every pseudonym index the agreements imply, before the gateways take traffic (they build them
    at start-up too, and are not ready until then). Idempotent: what is built is only brought up to date;
    a rotated key rebuilds. Safe while gateways run."""
    from gateway.indexing import build_offline
    from privacy import AgreementError, PseudonymKeyError
    from resolvers import MasterUnavailable, PartnersConfigError, load_partners

    given: dict[str, Any] = {"database_url": database_url, "partners": partners, "agreements": agreements,
                             "keys_dir": keys_dir}
    if config_file is not None:
        import yaml

        from_file = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        for name, value in given.items():
            if value is None and from_file.get(name) is not None:
                given[name] = from_file[name] if name == "database_url" else Path(from_file[name])
    missing = [name for name in ("database_url", "partners", "agreements") if given[name] is None]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}: give the flags, VCV_* variables or --config")
    try:
        config = load_partners(given["partners"], allow_missing_env=True)
        asyncio.run(build_offline(given["database_url"], config, given["agreements"], given["keys_dir"],
                                  say=click.echo))
    except (PartnersConfigError, AgreementError, PseudonymKeyError, MasterUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _on_database(db_url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(engine)` against `db_url` and close the engine whatever happens."""
    from resolvers import create_engine

    async def run() -> T:
        engine = create_engine(db_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@main.group()
def audit() -> None:
    """The tamper-evident audit log: verify it, keep a witness of its checkpoints, make signing keys."""


@audit.command("verify")
@click.option("--db", "db_url", required=True, envvar="VCV_AUDIT_DATABASE_URL")
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="the audit key's public half (hex); repeat it for keys used before a "
              "rotation; required unless --no-signatures")
@click.option("--witness", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="checkpoints kept outside the database (the gateway's witness file or vcv audit witness), "
                   "to detect a cut tail")
@click.option("--no-signatures", is_flag=True, help="check the chain only, not who signed it: the verdict is then "
              "'unsigned', never 'intact'")
def audit_verify(db_url: str, public_keys: tuple[Path, ...], witness: Path | None, no_signatures: bool) -> None:
    """Exit 0 when the log is intact; otherwise name the first broken sequence number and exit 1."""
    from privacy.audit.keys import load_public_key
    from privacy.audit.verify import default_workers, read_witness, verify

    if not public_keys and not no_signatures:
        raise click.UsageError("give --public-key FILE (the audit key's public half): a log whose signatures were "
                               "not checked is not called intact; --no-signatures checks the chain alone")
    if public_keys and no_signatures:
        raise click.UsageError("--public-key and --no-signatures contradict each other")
    try:
        key = [load_public_key(path) for path in public_keys] or None
        if witness is not None:
            read_witness(witness)  # a malformed file is a usage problem, named before the database is read
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    verdict = _on_database(db_url, lambda engine: verify(engine, key, witness, check_signatures=not no_signatures,
                                                         workers=default_workers()))
    if not verdict.consistent:
        raise click.ClickException(str(verdict))
    click.echo(str(verdict))


@audit.command("witness")
@click.option("--db", "db_url", required=True, envvar="VCV_AUDIT_DATABASE_URL")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def audit_witness(db_url: str, out: Path) -> None:
    """Append the log's new signed checkpoints to a witness file kept somewhere else."""
    from privacy.audit.verify import export_witness

    added = _on_database(db_url, lambda engine: export_witness(engine, out))
    click.echo(f"{added} new checkpoints written to {out}")


@audit.command("export")
@click.option("--db", "db_url", required=True, envvar="VCV_AUDIT_DATABASE_URL")
@click.option("--customer", "customer_id", help="only events that touched this customer")
@click.option("--caller", "subject", help="only events by this caller (token subject)")
@click.option("--since", type=click.DateTime(), help="recorded at or after (UTC)")
@click.option("--until", type=click.DateTime(), help="recorded before (UTC)")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
def audit_export(db_url: str, customer_id: str | None, subject: str | None, since: Any, until: Any,
                 fmt: str) -> None:
    """Write the matching events to standard output, oldest first."""
    from privacy.audit.export import write_events
    from privacy.audit.store import AuditLog, AuditQuery

    def utc(moment: Any) -> Any:
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment

    async def export(engine: Any) -> int:
        log, written, after = AuditLog(engine, None), 0, 0
        while True:
            rows = await log.search(AuditQuery(after_seq=after, limit=1000, customer_id=customer_id,
                                               subject=subject, since=utc(since), until=utc(until)))
            written += write_events(rows, fmt, sys.stdout, header=written == 0)
            if len(rows) < 1000:
                return written
            after = rows[-1]["seq"]

    click.echo(f"{_on_database(db_url, export)} events exported", err=True)


@audit.command("keygen")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), required=True)
def audit_keygen(directory: Path) -> None:
    """Create audit-signing.key (owner-only) and audit-signing.pub unless they exist."""
    from privacy.audit.keys import generate

    private, public = generate(directory)
    click.echo(f"signing key: {private}\npublic key:  {public}")


@main.group()
def policy() -> None:
    """Data-sharing agreements: check, explain, records of processing."""


def _policy_inputs(agreements_dir: Path, partners_file: Path) -> tuple[Catalogue, set[str]]:
    from privacy import ROLES
    from resolvers import PartnersConfigError, catalogue, load_partners

    try:
        partners_config = load_partners(partners_file, allow_missing_env=True)
    except PartnersConfigError as exc:
        raise click.ClickException(str(exc)) from None
    owners = catalogue({pid: c.product_types for pid, c in partners_config.partners.items()})
    return owners, {*ROLES, *partners_config.partners}


_agreements_option = click.option("--agreements", "agreements_dir", type=click.Path(file_okay=False, path_type=Path),
                                  default=DEMO_AGREEMENTS, show_default=True, envvar="VCV_AGREEMENTS")
_partners_option = click.option("--partners", "partners_file", type=click.Path(exists=True, path_type=Path),
                                default=DEMO_PARTNERS, show_default=True, envvar="VCV_PARTNERS")


@policy.command("check")
@_agreements_option
@_partners_option
def policy_check(agreements_dir: Path, partners_file: Path) -> None:
    """Validate every agreement file; exit 1 listing each problem with file and line."""
    from privacy import load_agreements, policy_reports

    owners, consumers = _policy_inputs(agreements_dir, partners_file)
    problems = policy_reports.check(agreements_dir, owners, consumers)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise SystemExit(1)
    click.echo(policy_reports.summary(load_agreements(agreements_dir, owners, known_consumers=consumers)))


def _load_policy(agreements_dir: Path, partners_file: Path) -> PolicySet:
    from privacy import AgreementError, load_agreements

    owners, consumers = _policy_inputs(agreements_dir, partners_file)
    try:
        return load_agreements(agreements_dir, owners, known_consumers=consumers)
    except AgreementError as exc:
        raise click.ClickException(str(exc)) from None


@policy.command("explain")
@click.option("--owner", required=True, help="rm, or a partner ID")
@click.option("--consumer", required=True, help="a role, or a partner ID")
@click.option("--purpose", required=True)
@click.option("--consent", "consents", multiple=True, help="assume this consent is active (repeatable)")
@_agreements_option
@_partners_option
def policy_explain(owner: str, consumer: str, purpose: str, consents: tuple[str, ...], agreements_dir: Path,
                   partners_file: Path) -> None:
    """What CONSUMER sees of OWNER's data for PURPOSE, field by field, and by which rule."""
    from privacy import PURPOSES, policy_reports

    loaded = _load_policy(agreements_dir, partners_file)
    _, consumers = _policy_inputs(agreements_dir, partners_file)
    # A typo would otherwise explain an empty view ("redact" everywhere) as if it were the answer.
    for what, value, known in (("owner", owner, loaded.owners()), ("consumer", consumer, sorted(consumers)),
                               ("purpose", purpose, PURPOSES)):
        if value not in known:
            raise click.UsageError(f"unknown {what} {value!r}; one of {', '.join(known)}")
    unknown = sorted(set(consents) - set(PURPOSES))
    if unknown:
        raise click.UsageError(f"unknown consent {', '.join(map(repr, unknown))}; one of {', '.join(PURPOSES)}")
    click.echo(policy_reports.explain_table(loaded, owner, consumer, purpose, consents=consents or None))


def _policy_at(path: Path, partners_file: Path) -> PolicySet:
    """The agreements in a directory, or in a single agreement file (its owner compared, the others absent)."""
    import shutil
    import tempfile

    if path.is_dir():
        return _load_policy(path, partners_file)
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(path, Path(scratch) / path.name)
        return _load_policy(Path(scratch), partners_file)


@policy.command("diff")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@_partners_option
def policy_diff(old: Path, new: Path, partners_file: Path) -> None:
    """What changes from the agreements OLD to NEW (directories, or one agreement file each): per owner,
    consumer, role and purpose, the fields that gain (+) or lose (-) visibility or change treatment (~).
    Exit 0 when nothing changes, 1 when something does (like diff)."""
    from privacy import ROLES
    from privacy import policy_diff as compute
    from privacy import render_diff as render

    _, consumers = _policy_inputs(old, partners_file)
    changes = compute(_policy_at(old, partners_file), _policy_at(new, partners_file), set(consumers) - set(ROLES))
    click.echo(render(changes), nl=False)
    raise SystemExit(1 if changes else 0)


@policy.command("records")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@_agreements_option
@_partners_option
def policy_records(fmt: Literal["markdown", "json"], agreements_dir: Path, partners_file: Path) -> None:
    """The GDPR Art. 30 record of processing activities: owners, consumers, purposes, data categories."""
    from privacy import policy_reports

    click.echo(policy_reports.records(_load_policy(agreements_dir, partners_file), fmt), nl=False)


def _plug_in(group: click.Group) -> None:
    """Add the commands other installed packages declare under the entry point group `vcv.commands`
    (pyproject.toml). The demo world (fixtures/: `vcv demo`, `vcv seed`, `vcv partners run`) comes in this
    way, so the gateway never imports the simulators it is tested against, and an installation without them
    simply has no such commands."""
    for entry in importlib.metadata.entry_points(group="vcv.commands"):
        group.add_command(entry.load(), entry.name)


_plug_in(main)

if __name__ == "__main__":
    main()
