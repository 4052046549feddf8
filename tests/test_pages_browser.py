"""The three pages in a real headless Chromium (Debian's, driven by Playwright) against a real gateway and the
four partner simulators: what a consultant, a partner, a customer and a compliance officer see and do.

Chromium missing: these tests skip with the reason, except under CI, where they fail (`make test` installs
it when it can)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from fixtures.alliance import Customer
from gateway.tokens import mint
from tests.browser import chromium_path, launch
from tests.gateway_support import Gateway, World, private_master

TIMEOUT_MS = 15_000


def _require_chromium() -> None:
    if chromium_path() is not None:
        return
    message = "no Chromium at /usr/bin/chromium (apt-get install chromium, or set VCV_CHROMIUM)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}: required under CI")
    pytest.skip(message)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        yield browser
        await browser.close()


def _subject(world: World) -> Customer:
    """A customer with contracts at every partner and an active consent to lead management."""
    consenting = {c.customer_id for c in world.alliance.consents
                  if c.purpose == "lead_management" and c.withdrawn_at is None}
    for customer in world.alliance.customers:
        partners = {r.partner_id for r in world.alliance.contracts if r.customer_id == customer.id}
        if customer.id in consenting and partners == {"bank", "life", "property", "invest"}:
            return customer
    raise AssertionError("the test alliance has no customer with contracts everywhere and the consent")


@pytest.fixture
async def site(make_gateway: Callable[..., Any], world: World, tmp_path: Path) -> tuple[Gateway, Customer]:
    master = private_master(world, tmp_path)  # a consent withdrawn here must not change other tests' world
    subject = _subject(world)
    tokens = {
        "consultant": mint(world.keys_dir, role="consultant", consultant_id=subject.consultant_id,
                           purposes=["advisory", "lead_management"]),
        "customer": mint(world.keys_dir, role="customer", customer_id=subject.id, purposes=["self_service"]),
        "partner": mint(world.keys_dir, role="partner", partner_id="bank", purposes=["service", "lead_management"]),
        "compliance": mint(world.keys_dir, role="compliance", purposes=["audit"]),
    }
    identities = [{"role": role, "label": f"{role.title()} (test)", "token": token,
                   "purposes": {"consultant": ["advisory", "lead_management"], "customer": ["self_service"],
                                "partner": ["service", "lead_management"], "compliance": ["audit"]}[role]}
                  for role, token in tokens.items()]
    gateway = await make_gateway(settings_overrides={"db_url": master,
                                                     "demo_identities": identities})
    return gateway, subject


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert errors == [], errors  # no script error on any page


async def _as(page: Page, url: str, role: str, purpose: str | None = None) -> None:
    await page.goto(url)
    await page.wait_for_selector(f"#demo-identity option:has-text('{role.title()} (test)')", state="attached")
    await page.select_option("#demo-identity", label=f"{role.title()} (test)")
    if purpose:
        await page.select_option("#purpose", purpose)
    await page.wait_for_selector(f"#who:has-text('purpose {purpose}')" if purpose else "#who:has-text('purpose')")


async def _open(page: Page, customer_id: str) -> None:
    await page.fill("#search-text", customer_id)
    await page.click("#search button[type=submit]")


async def test_a_consultant_finds_a_customer_and_sees_why_a_field_is_hidden(
        site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    await _as(page, gateway.url + "/", "consultant")
    await page.fill("#search-text", subject.family_name)
    await page.click("#search button[type=submit]")
    await page.click(f"ul.results button[data-id='{subject.id}']")
    await page.wait_for_selector(".contract")

    assert subject.given_name in await page.inner_text("#customer h1")
    groups = await page.locator(".partner h3").all_inner_texts()
    assert {g.split(" · ")[0] for g in groups} == {"Alliance Bank", "Alliance Life", "Alliance Property & Casualty",
                                                  "Alliance Brokerage"}
    # The life insurer keeps health classes to its own staff: the field is there, empty, with the rule.
    hidden = page.locator("dd[data-path$='.healthClass']").first
    assert (await hidden.inner_text()).lower() == "—hidden"  # no value, and a badge saying why
    assert (await hidden.locator(".badge").get_attribute("title")).startswith("redact — rule life/")


async def test_a_partner_that_times_out_gets_a_banner_and_the_others_still_render(
        site: tuple[Gateway, Customer], page: Page, world: World) -> None:
    gateway, subject = site
    await world.fault("invest", mode="timeout")
    try:
        await _as(page, gateway.url + "/", "consultant")
        await _open(page, subject.id)
        banner = page.locator(".banner[data-partner='invest']")
        await banner.wait_for()
        assert "invest: PARTNER_TIMEOUT" in await banner.inner_text()
        assert await page.locator(".banner").count() == 1  # only the partner that failed
        # The bank's contracts arrived with their values; the brokerage's are listed, marked unanswered.
        balances = await page.locator(".contract[data-contract^='BNK'] dd[data-path$='.balance']").all_inner_texts()
        assert balances and all(b.endswith("EUR") for b in balances)
        depot = page.locator(".contract[data-contract^='INV'] dd[data-path$='.marketValue']").first
        assert "not answered" in (await depot.inner_text()).lower()
        assert await page.locator(".badge.incomplete").count() == 1  # the totals say they lack the depots
    finally:
        await world.reset()


async def test_a_customer_withdraws_a_consent_and_the_partner_no_longer_sees_them(
        site: tuple[Gateway, Customer], page: Page, world: World) -> None:
    gateway, subject = site
    known_as = world.pseudonym(subject.id, "bank")
    await _as(page, gateway.url + "/", "partner", "lead_management")
    await _open(page, known_as)
    await page.wait_for_selector(".contract")
    assert (await page.inner_text("#customer h1")).startswith(subject.given_name[0] + ".")  # initials only
    assert await page.locator(".partner[data-partner-name='Alliance Life']").count() == 1

    await _as(page, gateway.url + "/self-service", "customer")
    switch = page.locator("#consent-lead_management")
    assert await switch.is_checked()
    await switch.uncheck()
    await page.wait_for_selector("#consent-notice:has-text('withdrawn')")
    await page.wait_for_selector("#consent-state-lead_management:has-text('withdrawn')")
    assert not await page.locator("#consent-lead_management").is_checked()

    await _as(page, gateway.url + "/", "partner", "lead_management")
    await _open(page, known_as)
    refusal = page.locator("#customer .state.error")
    await refusal.wait_for()
    assert "CUSTOMER_NOT_FOUND" in await refusal.inner_text()
    assert await page.locator(".contract").count() == 0


async def test_compliance_finds_the_access_just_made_with_its_partners_and_rules(
        site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    since = datetime.now().replace(second=0, microsecond=0)  # the page's time fields are local, to the minute
    await _as(page, gateway.url + "/", "consultant")
    await _open(page, subject.id)
    await page.wait_for_selector(".contract")

    await _as(page, gateway.url + "/compliance", "compliance")
    status = page.locator("#chain-status")
    await status.wait_for()
    assert (await status.inner_text()).startswith("Audit chain intact — intact:")
    await page.fill("input[name=customerId]", subject.id)
    await page.fill("input[name=subject]", f"consultant:{subject.consultant_id}")
    await page.fill("input[name=since]", since.strftime("%Y-%m-%dT%H:%M"))
    await page.click("#audit-search button[type=submit]")
    row = page.locator("#events tbody tr:has-text('bank ok')").first
    await row.wait_for()
    await row.click()
    details = await page.inner_text("#event-details")
    assert f"consultant:{subject.consultant_id} (consultant, rm)" in details and "advisory" in details
    assert all(p in details for p in ("bank", "life", "property", "invest"))
    assert "LifePolicy.healthClass" in details and "life/" in details

    # Export: the events found, as a spreadsheet would open them.
    request_id = (await page.locator("#event-details dd").first.inner_text()).strip()
    async with page.expect_download() as download:
        await page.click("#export-csv")
    exported = Path(await (await download.value).path()).read_text(encoding="utf-8").splitlines()
    assert exported[0].startswith("seq,time,request_id,subject,role")
    assert any(request_id in line and "LifePolicy.healthClass" in line for line in exported[1:])


async def test_a_malformed_or_forged_token_is_explained(site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, _ = site
    await page.goto(gateway.url + "/")
    await page.fill("#token", "not a token")
    await page.click("#use-token")
    assert "not a token" in await page.inner_text("#identity-error")
    assert await page.inner_text("#who") == "No identity chosen"

    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4Iiwicm9sZSI6ImNvbXBsaWFuY2UiLCJwdXJwb3NlcyI6WyJhdWRpdCJdfQ.c2ln"
    await page.fill("#token", forged)
    await page.click("#use-token")
    refusal = page.locator("#results .state.error")
    await refusal.wait_for()
    assert "Your token was not accepted" in await refusal.inner_text()
    assert "UNAUTHENTICATED" in await refusal.inner_text()


async def test_an_empty_search_says_so(site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, _ = site
    await _as(page, gateway.url + "/", "consultant")
    await page.fill("#search-text", "Nobody-By-This-Name")
    await page.click("#search button[type=submit]")
    await page.wait_for_selector("#results .state:has-text('No customer you may see matches')")
    assert await page.locator("ul.results button").count() == 0


async def test_pages_are_served_locked_down_and_demo_tokens_only_in_demo_mode(gateway: Gateway) -> None:
    for path in ("/", "/self-service", "/compliance", "/static/common.js"):
        async with gateway.http.get(gateway.url + path) as response:
            assert response.status == 200, path
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    async with gateway.http.get(gateway.url + "/demo/identities") as response:
        assert response.status == 404  # a gateway that is not the demo hands out no tokens
    async with gateway.http.get(gateway.url + "/static/../gateway_support.py") as response:
        assert response.status in (403, 404)
