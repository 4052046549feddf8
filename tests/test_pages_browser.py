"""The three pages in a real headless Chromium (Debian's, driven by Playwright) against a real gateway and the
four partner simulators: what a consultant, a partner, a customer and a compliance officer see and do.

Chromium missing: these tests skip with the reason, except under CI, where they fail (`make test` installs
it when it can)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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
    # Signed like the demo's, so that the compliance page can call the chain intact.
    gateway = await make_gateway(settings_overrides={"db_url": master, "demo_identities": identities,
                                                     "audit_signing_key": Ed25519PrivateKey.generate()})
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


AXE = Path(__file__).resolve().parent / "node" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 320, "height": 640}
ZOOM_200 = {"width": 640, "height": 450}  # a 1280 x 900 window at 200 % zoom, in CSS pixels
# What a customer must never read: `Type.field` schema paths and internal keys of purposes and products.
INTERNAL = re.compile(r"\b[A-Z][A-Za-z]+\.[a-z][A-Za-z]+\b|\b(lead_management|self_service|CURRENT_ACCOUNT|"
                      r"SAVINGS|MORTGAGE|LIABILITY|HOUSEHOLD|DISABILITY|DEPOT|LIFE|LOAN|CAR)\b|\brm\b")


async def _as(page: Page, url: str, role: str, purpose: str | None = None) -> None:
    await page.goto(url)
    await page.wait_for_selector(f"#demo-identity option:has-text('{role.title()} (test)')", state="attached")
    if not await page.locator("#identity-panel").evaluate("d => d.open"):
        await page.click("#identity-panel > summary")
    await page.select_option("#demo-identity", label=f"{role.title()} (test)")
    await page.click("#use-demo")
    if purpose:
        await page.select_option("#purpose", purpose)
        await page.click("#use-purpose")
    chosen = f"[data-purpose='{purpose}']" if purpose else "[data-purpose]:not([data-purpose=''])"
    await page.wait_for_selector(f"#who{chosen}")
    await page.click("#identity-panel > summary")  # done: fold the identity controls away


async def _open(page: Page, customer_id: str) -> None:
    await page.fill("#search-text", customer_id)
    await page.click("#search button[type=submit]")


async def _axe(page: Page, where: str) -> None:
    """Every axe-core rule (WCAG 2.0/2.1 A and AA and best practice) on the page as it is now: no violation."""
    assert AXE.is_file(), f"no {AXE}: `make node` installs it (npm ci in tests/node)"
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))  # through DevTools: the page's CSP stays as served
    violations = await page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.map(v => `${v.id} (${v.impact}): ${v.help} — `
                             + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))""")
    assert violations == [], f"{where}: {violations}"


async def _no_sideways_scroll(page: Page, where: str) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{where}: the page is {widths[0]} px wide in a {widths[1]} px window"


async def _tab_to(page: Page, selector: str, limit: int = 250) -> None:
    """Press Tab, as a keyboard user would, until the element matching `selector` has focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


async def _focused(page: Page) -> str:
    return await page.evaluate("""() => { const e = document.activeElement;
        return e ? `${e.tagName.toLowerCase()}#${e.id}.${e.className}` : ''; }""")


async def _consultant_opens(page: Page, url: str, subject: Customer) -> None:
    await _as(page, url + "/", "consultant")
    await _open(page, subject.id)
    await page.wait_for_selector(".contract", state="attached")


async def test_a_consultant_finds_a_customer_by_keyboard_and_reads_why_a_field_is_hidden(
        site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    await _as(page, gateway.url + "/", "consultant")
    await page.wait_for_selector("ul.results button")
    await page.evaluate("document.activeElement.blur()")
    await page.keyboard.press("Tab")  # the skip link comes first
    await page.keyboard.press("Enter")
    assert (await _focused(page)).startswith("input#search-text")
    await page.keyboard.type(subject.family_name)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#status:has-text('found')")  # the count is announced
    await _tab_to(page, f"ul.results button[data-id='{subject.id}']")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".contract")

    # Focus moved to the answer; the list says which customer is open.
    assert (await _focused(page)).startswith("h2#customer-name")
    assert subject.given_name in await page.inner_text("#customer h2.customer-name")
    assert await page.get_attribute(f"ul.results button[data-id='{subject.id}']", "aria-current") == "true"
    groups = await page.locator(".partner h3").all_inner_texts()
    assert {g.split(" · ")[0] for g in groups} <= {"Alliance Bank", "Alliance Life", "Alliance Property & Casualty",
                                                   "Alliance Brokerage"}

    # The summary at the top names what is hidden and why, before any contract.
    summary = page.locator("#hidden-summary")
    assert "Health class" in await summary.inner_text()
    assert await page.evaluate("""() => document.querySelector('#hidden-summary')
        .compareDocumentPosition(document.querySelector('.contract')) & Node.DOCUMENT_POSITION_FOLLOWING""")

    # Each badge is a button named after its field; Tab reaches it and Space opens the agreement's own words.
    hidden = page.locator(".contract dd[data-path$='.healthClass']").first
    await _tab_to(page, ".contract dd[data-path$='.healthClass'] button.badge")
    button = hidden.locator("button.badge")
    assert await button.get_attribute("aria-expanded") == "false"
    assert await page.evaluate("() => document.activeElement.textContent") == "Health class: hidden — why?"
    await page.keyboard.press("Space")
    assert await button.get_attribute("aria-expanded") == "true"
    why = hidden.locator(".why")
    assert await why.is_visible()
    text = await why.inner_text()
    assert "Alliance Life" in text and "special-category data" in text and "life/health-class-stays-with-life" in text
    await page.keyboard.press("Enter")
    assert not await why.is_visible()


async def test_terminated_contracts_are_folded_away_and_holdings_are_counted(
        site: tuple[Gateway, Customer], page: Page, world: World) -> None:
    gateway, subject = site
    await _consultant_opens(page, gateway.url, subject)
    refs = [r for r in world.alliance.contracts if r.customer_id == subject.id]
    ended = [r for r in refs if r.status == "terminated"]
    holdings = await page.inner_text("#holdings h3")
    assert holdings.startswith(f"Holds {len(refs) - len(ended)} current contract")
    terminated = page.locator("#terminated .contract")
    assert await terminated.count() == len(ended)
    if ended:
        assert not await page.locator("#terminated").evaluate("d => d.open")  # folded away
        assert not await terminated.first.is_visible()
    assert all(s != "terminated" for s in await page.locator(".partner .contract").evaluate_all(
        "els => els.map(e => e.dataset.status)"))
    # The portfolio picture has a row per partner and product type holding a value, each with its amount.
    rows = page.locator("#portfolio-chart li.chart-row")
    assert await rows.count() >= 1
    assert all(("Asset" in t or "Liability" in t) for t in await rows.all_inner_texts())


async def test_a_partner_that_times_out_is_named_and_the_gaps_are_explained(
        site: tuple[Gateway, Customer], page: Page, world: World) -> None:
    gateway, subject = site
    await world.fault("invest", mode="timeout")
    try:
        await _as(page, gateway.url + "/", "consultant")
        await _open(page, subject.id)
        banner = page.locator(".banner[data-partner='invest']")
        await banner.wait_for()
        text = await banner.inner_text()
        assert text.startswith("Alliance Brokerage did not answer in time.") and "PARTNER_TIMEOUT" in text
        assert await page.locator(".banner").count() == 1  # only the partner that failed
        # The bank's contracts arrived with their values; the brokerage's are listed, marked unanswered.
        bank = page.locator(".partner .contract[data-contract^='BNK'] dd[data-path$='.balance']")
        balances = await bank.all_inner_texts()
        assert balances and all(b.endswith("EUR") for b in balances)
        depot = page.locator(".contract[data-contract^='INV'] dd[data-path$='.marketValue']").first
        await depot.locator("button.badge").click()
        assert "Alliance Brokerage did not answer in time" in await depot.locator(".why").inner_text()
        assert "Alliance Brokerage" in await page.inner_text("#hidden-summary")
        assert await page.locator("button.badge.incomplete").count() == 1  # the totals say they lack the depots
        # The picture does not draw the depots as if they were worth nothing.
        depots = page.locator("#portfolio-chart li[data-partner='invest']")
        assert "value not known" in await depots.inner_text() and "not answered" in await depots.inner_text()
        assert await depots.locator("rect.unknown").count() == 1
    finally:
        await world.reset()


async def test_a_customer_reads_plain_words_and_withdraws_a_consent_by_keyboard(
        site: tuple[Gateway, Customer], page: Page, world: World) -> None:
    gateway, subject = site
    known_as = world.pseudonym(subject.id, "bank")
    await _as(page, gateway.url + "/", "partner", "lead_management")
    await _open(page, known_as)
    await page.wait_for_selector(".contract")
    name = await page.inner_text("#customer h2.customer-name")
    assert name.startswith(subject.given_name[0] + ".")  # initials only
    assert await page.locator(".partner[data-partner-name='Alliance Life']").count() == 1

    await _as(page, gateway.url + "/self-service", "customer")
    await page.wait_for_selector("#access-list li")
    # The access report names the partner and the purpose in words, with data categories, never schema paths.
    text = await page.inner_text("main")
    assert "Alliance Bank" in text and "Product offers from alliance partners" in text
    assert [m.group(0) for m in INTERNAL.finditer(text)] == []
    assert "00:00:00" not in text and "never given" not in text.lower()
    assert await page.locator("#consent-self_service").count() == 0  # using self-service is not a choice
    # No staff page, no token field in sight.
    assert await page.locator("a[href='/'], a[href='/compliance']").count() == 0
    assert not await page.locator("#token").is_visible()

    switch = page.locator("#consent-lead_management")
    assert await switch.is_checked()
    access = await page.query_selector("#access")
    await _tab_to(page, "#consent-lead_management")
    await page.keyboard.press("Space")
    await page.wait_for_selector("#consent-notice:has-text('withdrawn')")
    await page.wait_for_selector("#consent-state-lead_management:has-text('Withdrawn')")
    assert not await switch.is_checked()
    assert (await _focused(page)).startswith("input#consent-lead_management")  # focus stayed on the switch
    assert await access.evaluate("e => e.isConnected")  # the page was not replaced underneath the person

    await _as(page, gateway.url + "/", "partner", "lead_management")
    await _open(page, known_as)
    refusal = page.locator("#customer .state.error")
    await refusal.wait_for()
    assert "CUSTOMER_NOT_FOUND" in await refusal.inner_text()
    assert await page.locator(".contract").count() == 0


async def test_compliance_answers_who_saw_a_customers_data_of_a_category_in_one_search(
        site: tuple[Gateway, Customer], page: Page, world: World) -> None:
    gateway, subject = site
    # The life insurer's own staff read the health class (their rule allows it); nobody else gets it.
    life = gateway.token("partner", ["service"], partner_id="life")
    health = "query($id: ID!) { customer(id: $id) { contracts { ... on LifePolicy { healthClass } } } }"
    known_to_life = world.pseudonym(subject.id, "life")
    reply = await gateway.post(health, token=life, purpose="service", variables={"id": known_to_life})
    assert reply.status == 200 and any(c.get("healthClass") for c in reply.data["customer"]["contracts"])
    await _consultant_opens(page, gateway.url, subject)  # beneficiaries (third parties), no health data

    await _as(page, gateway.url + "/compliance", "compliance")
    status = page.locator("#chain-status")
    await status.wait_for()
    assert (await status.inner_text()).startswith("Audit chain intact — intact:")
    # By keyboard alone: skip to the content, Tab through the form, type, choose by typing, Enter.
    await page.evaluate("document.activeElement.blur()")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await _tab_to(page, "input[name=customerId]")
    await page.keyboard.type(subject.id)
    await _tab_to(page, "select[name=data]")
    await page.keyboard.type("Health")  # type-ahead in the list: "Health information (health)"
    assert await page.input_value("select[name=data]") == "category:health"
    await _tab_to(page, "select[name=period]")
    await page.keyboard.type("Today")
    assert await page.input_value("select[name=period]") == "today"
    await _tab_to(page, "#audit-search button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#status:has-text('1 event found')")
    rows = page.locator("#events tbody tr.event")
    assert await rows.count() == 1
    row = rows.first
    assert "partner:life" in await row.inner_text() and "Health information" in await row.inner_text()

    # Keyboard: Tab to the row's button, Space opens the details right below the row, focus moves into them.
    await _tab_to(page, "#events tbody tr.event button.open-event")
    await page.keyboard.press("Space")
    details = page.locator("#events tr.event-details")
    await details.wait_for()
    assert await row.get_attribute("aria-current") == "true"
    assert await row.locator("button").get_attribute("aria-expanded") == "true"
    assert await page.evaluate("() => document.activeElement.closest('tr.event-details') !== null")
    below = await page.evaluate("""() => { const r = document.querySelector('#events tr.event[aria-current]');
        return r.nextElementSibling.classList.contains('event-details'); }""")
    assert below
    assert "LifePolicy.healthClass" in await details.inner_text()

    # The consultant's view was of other data: it is found under its own category, list searches hideable.
    await page.select_option("select[name=data]", "category:third parties")
    await page.click("#audit-search button[type=submit]")
    await page.wait_for_selector("#status:has-text('found')")
    callers = await page.locator("#events tbody tr.event td:nth-child(3)").all_inner_texts()
    assert callers and set(callers) == {f"consultant:{subject.consultant_id}"}
    await page.select_option("select[name=data]", "")
    await page.click("#audit-search button[type=submit]")
    await page.wait_for_selector("#status:has-text('found')")
    everything = await page.locator("#events tbody tr.event").count()
    await page.check("input[name=hideLists]")
    await page.wait_for_selector("#status:has-text('hidden')")
    assert await page.locator("#events tbody tr.event").count() < everything

    # Export: the events found, as a spreadsheet would open them, with the fields shown.
    await page.uncheck("input[name=hideLists]")
    await page.select_option("select[name=data]", "category:health")
    await page.click("#audit-search button[type=submit]")
    await page.wait_for_selector("#status:has-text('1 event found')")
    request_id = await page.get_attribute("#events tbody tr.event", "data-request")
    async with page.expect_download() as download:
        await page.click("#export-csv")
    exported = Path(await (await download.value).path()).read_text(encoding="utf-8").splitlines()
    assert exported[0].startswith("seq,time,request_id,subject,role") and "fields_shown" in exported[0]
    assert any(request_id in line and "LifePolicy.healthClass" in line and "health" in line for line in exported[1:])


async def test_a_malformed_or_forged_token_is_explained(site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, _ = site
    await page.goto(gateway.url + "/")
    await page.click("#token-panel > summary")
    await page.fill("#token", "not a token")
    await page.click("#use-token")
    assert "not a token" in await page.inner_text("#identity-error")
    assert await page.inner_text("#who") == "No identity chosen"
    assert (await _focused(page)).startswith("input#token")  # back where the mistake is

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


async def _loaded(page: Page, url: str, subject: Customer, which: str) -> None:
    """Each page in the state its user works in: a customer open, the customer's data, events found."""
    if which == "customer360":
        await _consultant_opens(page, url, subject)
        await page.locator("button.badge.redact").first.click()  # an explanation open, too
    elif which == "self-service":
        await _as(page, url + "/self-service", "customer")
        await page.wait_for_selector("#consents .switch")
    else:
        await _as(page, url + "/compliance", "compliance")
        await page.wait_for_selector("#chain-status")
        await page.fill("input[name=customerId]", subject.id)
        await page.click("#audit-search button[type=submit]")
        await page.wait_for_selector("#status:has-text('found')")
        await page.locator("#events tbody tr.event button").first.click()
        await page.wait_for_selector("#events tr.event-details")


PAGE_NAMES = ("customer360", "self-service", "compliance")


async def test_axe_core_finds_no_violation_on_any_page_in_its_loaded_state(
        site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    await page.goto(gateway.url + "/")
    await _axe(page, "customer 360 before choosing an identity")
    await _consultant_opens(page, gateway.url, subject)  # the consultant's search leaves events to find
    for which in PAGE_NAMES:
        await _loaded(page, gateway.url, subject, which)
        await _axe(page, which)
        await page.set_viewport_size(PHONE)
        await _axe(page, f"{which} at 320 px")
        await page.set_viewport_size({"width": 1280, "height": 900})


async def test_no_page_scrolls_sideways_on_a_phone_or_at_200_percent_zoom(
        site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    await _consultant_opens(page, gateway.url, subject)
    for size in (PHONE, ZOOM_200, {"width": 390, "height": 844}):
        await page.set_viewport_size(size)
        for which in PAGE_NAMES:
            await _loaded(page, gateway.url, subject, which)
            await _no_sideways_scroll(page, f"{which} at {size['width']} px")
            if which == "customer360":
                # One column: the customer comes below the search, never over its button.
                button = await page.locator("#search button[type=submit]").bounding_box()
                panel = await page.locator("#customer").bounding_box()
                assert button and panel and panel["y"] >= button["y"] + button["height"]
            # Once chosen, who you are takes one line, not a third of the phone's first screen.
            header = await page.locator("header").bounding_box()
            assert header and header["height"] < size["height"] / 4, (which, header)


async def test_the_identity_list_applies_only_when_asked(site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, _ = site
    await page.goto(gateway.url + "/")
    await page.wait_for_selector("#demo-identity option:has-text('Consultant (test)')", state="attached")
    await page.focus("#demo-identity")
    await page.keyboard.press("ArrowDown")  # moving through a closed list is not choosing
    assert await page.inner_text("#who") == "No identity chosen"
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # the "Use identity" button
    await page.wait_for_selector("#who[data-purpose='advisory']")
    assert (await _focused(page)).startswith("button#use-demo")
    await page.wait_for_selector("#status:has-text('customers found')")  # the new identity's customers, announced


async def test_live_regions_are_short_status_lines_and_controls_have_3_to_1_borders(
        site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    for which in PAGE_NAMES:
        await _loaded(page, gateway.url, subject, which)
        live = await page.evaluate("""() => [...document.querySelectorAll(
            '[aria-live], [role=status], [role=alert], [role=log]')]
            .map(e => [e.id || e.tagName, e.textContent.length])""")
        assert live and all(length <= 200 for _, length in live), (which, live)
        assert await page.locator("main[aria-live], #customer[aria-live], #page[aria-live]").count() == 0
        ratios = await page.evaluate(CONTRAST_OF_BORDERS)
        assert ratios and min(r for _, r in ratios) >= 3, (which, ratios)


# The contrast of each visible input's and select's border against white, as WCAG 2.x defines contrast.
CONTRAST_OF_BORDERS = """() => {
  const lum = (rgb) => { const [r, g, b] = rgb.match(/\\d+/g).slice(0, 3).map(Number).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  return [...document.querySelectorAll('input:not([type=checkbox]), select')].filter(e => e.offsetParent)
    .map(e => [e.name || e.id, (1.05) / (lum(getComputedStyle(e).borderTopColor) + 0.05)]);
}"""


async def test_compliance_dates_are_typed_as_the_pages_write_them_and_a_wrong_one_is_explained(
        site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    await _consultant_opens(page, gateway.url, subject)
    await _as(page, gateway.url + "/compliance", "compliance")
    await page.wait_for_selector("#chain-status")
    await page.fill("input[name=customerId]", subject.id)
    await page.select_option("select[name=period]", "dates")
    await page.fill("input[name=since]", "31/02/2026")
    await page.click("#audit-search button[type=submit]")
    problem = page.locator("#date-problem")
    await problem.wait_for()
    assert "“31/02/2026” is not a date: write it as 5 Nov 2026" in await problem.inner_text()
    assert await page.get_attribute("input[name=since]", "aria-invalid") == "true"
    assert await page.input_value("input[name=since]") == "31/02/2026"  # nothing typed is lost
    assert await page.evaluate("document.activeElement.name") == "since"  # where the mistake is

    today = await page.evaluate(
        "new Date().toLocaleDateString('en-GB', {day: 'numeric', month: 'short', year: 'numeric'})")
    await page.fill("input[name=since]", today)  # as the pages write dates: "30 Nov 2026"
    await page.fill("input[name=until]", today)
    await page.click("#audit-search button[type=submit]")
    await page.wait_for_selector("#status:has-text('found')")
    assert await page.inner_text("#date-problem") == ""
    assert await page.locator(f"#events tbody tr.event:has-text('consultant:{subject.consultant_id}')").count() >= 1


async def test_a_customer_downloads_their_data_as_one_file(site: tuple[Gateway, Customer], page: Page) -> None:
    gateway, subject = site
    await _as(page, gateway.url + "/self-service", "customer")
    await page.wait_for_selector("#download-my-data")
    async with page.expect_download() as download:
        await page.click("#download-my-data")
    text = Path(await (await download.value).path()).read_text(encoding="utf-8")
    assert subject.id in text and subject.family_name in text
    assert (await _focused(page)).startswith("button#download-my-data")
    await page.wait_for_selector("#status:has-text('downloaded')")
