"""Screenshots of the three pages with real demo data, for the README and docs/pages.md:

    .venv/bin/python docs/screenshots.py

Starts the demo (seeded master, four partner simulators, gateway) in a temporary directory, opens each page
in headless Chromium as the demo identity that uses it, and writes PNGs to docs/screenshots/."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.demo import start_demo
from tests.browser import launch

OUT = Path(__file__).resolve().parent / "screenshots"


async def as_identity(page: Page, url: str, label_starts: str) -> None:
    await page.goto(url)
    option = page.locator("#demo-identity option", has_text=label_starts).first
    await page.select_option("#demo-identity", value=await option.get_attribute("value"))


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = await start_demo(Path(tmp), port=0)
        showcase = demo.info["showcase_customer"]
        try:
            async with async_playwright() as p:
                browser = await launch(p)
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await as_identity(page, demo.gateway_url + "/", "Consultant")
                await page.click(f"ul.results button[data-id='{showcase}']")
                await page.wait_for_selector(".contract")
                await page.hover(".badge.redact >> nth=0")  # its tooltip names the rule
                await page.screenshot(path=OUT / "customer360.png")

                await as_identity(page, demo.gateway_url + "/self-service", "Customer")
                await page.wait_for_selector("#access")
                await page.screenshot(path=OUT / "self-service.png", full_page=True)

                await as_identity(page, demo.gateway_url + "/compliance", "Compliance")
                await page.wait_for_selector("#chain-status")
                await page.fill("input[name=customerId]", showcase)
                await page.click("#audit-search button[type=submit]")
                await page.click("#events tbody tr:has-text('bank ok')")
                await page.wait_for_selector("#event-details")
                await page.screenshot(path=OUT / "compliance.png", full_page=True)
                await browser.close()
        finally:
            await demo.stop()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
