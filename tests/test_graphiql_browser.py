"""GraphiQL on a closed network: a real Chromium opens /graphql with every request to another host blocked,
the explorer loads from the gateway itself, a person sets the token and purpose in its Headers tab, runs a
query and sees the data. And only a browser's HTML GET gets the page: other GETs are GraphQL requests."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route, async_playwright

from tests.browser import chromium_path, launch
from tests.gateway_support import SHOWCASE, Gateway, World, consultant_of

TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if chromium_path() is None:
        message = "no Chromium at /usr/bin/chromium (apt-get install chromium, or set VCV_CHROMIUM)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}: required under CI")
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        yield browser
        await browser.close()


async def test_graphiql_runs_a_query_with_the_network_closed(browser: Browser, gateway: Gateway,
                                                             world: World) -> None:
    own = urlsplit(gateway.url).netloc
    elsewhere: list[str] = []

    async def closed_network(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own or route.request.url.startswith("data:"):
            await route.continue_()
        else:  # a bank's closed network: nothing outside the gateway answers
            elsewhere.append(route.request.url)
            await route.abort()

    context = await browser.new_context()
    await context.route("**/*", closed_network)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "401" not in m.text else None)
    try:
        await page.goto(f"{gateway.url}/graphql")
        await page.wait_for_selector(".graphiql-container")
        assert "Loading" not in await page.locator("#graphiql").inner_text()

        token = gateway.token("consultant", ["advisory"], consultant_id=consultant_of(world, SHOWCASE))
        headers = json.dumps({"Authorization": f"Bearer {token}", "X-Purpose": "advisory"})
        query = f'{{ customer(id: "{SHOWCASE}") {{ familyName contracts {{ contractId }} }} }}'
        await _replace(page, ".graphiql-editor-tool .graphiql-editor:visible", headers)
        await _replace(page, ".graphiql-query-editor", query)
        await page.locator(".graphiql-execute-button").click()
        result = page.locator(".graphiql-response")
        expected = world.alliance.customer(SHOWCASE).family_name
        await result.get_by_text(expected).first.wait_for()
        text = await result.inner_text()
        assert "BNK-" in text and "INV-" in text and "errors" not in text
    finally:
        await context.close()
    assert elsewhere == []  # nothing was even tried outside the gateway
    assert not [p for p in problems if "Content Security Policy" in p], problems


async def _replace(page, selector: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type into a GraphiQL (CodeMirror) editor as a person would: select all, then the new text."""
    await page.locator(selector).first.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.insert_text(text)


async def test_only_a_browser_html_get_is_the_page_and_it_names_no_other_host(gateway: Gateway) -> None:
    async with gateway.http.get(f"{gateway.url}/graphql", headers={"Accept": "text/html"}) as response:
        assert response.status == 200
        page = await response.text()
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("<!--", "")
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js", "ide.js"):
        async with gateway.http.get(f"{gateway.url}/graphiql/{asset}") as response:
            assert response.status == 200, asset
    # A GET from a program (no HTML wanted), with or without an operation, is GraphQL: no token, no answer.
    for params in ({}, {"query": "{ partners { id } }"}):
        async with gateway.http.get(f"{gateway.url}/graphql", params=params,
                                    headers={"Accept": "application/json"}) as response:
            assert response.status == 401, params
