"""Reloading a running gateway's configuration (SIGHUP, `vcv serve`): the partners file and the agreements
are re-read and validated first; an invalid file keeps the running configuration and the log says why (file
and line). Requests in flight finish with the rules they began with."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import collector, indexing
from gateway.cursors import Cursors
from gateway.policy_loader import load_keys, load_policy
from gateway.state import SETTINGS, STATE, GatewaySettings, Rules
from privacy import AgreementError, PseudonymKeyError, policy_diff, render_diff
from resolvers import PartnersConfig, build_connectors, load_partners

log = logging.getLogger("vcv.gateway")


def load_rules(settings: GatewaySettings, partners: PartnersConfig, cursors: Cursors) -> Rules:
    """Agreements and pseudonym keys for these partners; raises naming file and line on a bad agreement."""
    policy = load_policy(settings.agreements_dir, partners)
    return Rules(policy, load_keys(policy, settings.keys_dir), cursors)


async def reload_configuration(app: web.Application) -> bool:
    """Re-read the partners file and the agreements. Everything is validated first: an invalid file keeps
    the running configuration and the log says why (file and line). Requests in flight finish as they began."""
    settings, state = app[SETTINGS], app[STATE]
    if settings.partners_file is None:
        log.warning("reload asked for, but the gateway was not started from a partners file")
        return False
    try:
        partners = load_partners(settings.partners_file)
        rules = load_rules(settings, partners, state.rules.cursors)
    except (ValueError, AgreementError, PseudonymKeyError) as exc:
        log.error("reload refused, the running configuration stays: %s", exc)
        return False
    changes = policy_diff(state.rules.policy, rules.policy, partners.partners)
    replaced = state.connectors
    state.partners, state.connectors, state.rules = partners, build_connectors(partners, state.session), rules
    for connector in replaced.values():
        connector.close()  # their kept connections; calls in flight finish on theirs
    log.info("reloaded %s and %s: %d partners, %d agreements", settings.partners_file, settings.agreements_dir,
             len(partners.partners), len(rules.policy.agreements))
    # What reviewers saw with `vcv policy diff`, now on the record of the running gateway (rules, never values).
    log.info("agreement changes applied by the reload:\n%s", render_diff(changes).rstrip())
    indexing.rebuild(app)  # a rotated pseudonym key, a new partner: their indexes, in the background
    collector.refreeze()  # what was replaced may have been frozen at start-up
    return True


async def reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
    """While the app runs (a cleanup context, after the state is built): SIGHUP reloads the configuration."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload_configuration(app)))
    yield
    loop.remove_signal_handler(signal.SIGHUP)
