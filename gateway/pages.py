"""The three pages a person uses — customer 360 at `/`, `/self-service`, `/compliance` — served as static
files from `gateway/static/` (no build step, nothing from a CDN, so they work offline).

The pages hold no privileges of their own: they call `/graphql` with the token the user chose or pasted,
and show exactly what the API returned (values are set as text, never as HTML). In demo mode only,
`/demo/identities` hands the page the demo's tokens so that a person can switch roles with one click.
`/vocabulary.json` gives the pages plain words for internal keys (gateway/page_words.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"/": "customer360.html", "/self-service": "self-service.html", "/compliance": "compliance.html"}
# Scripts and styles from this origin only, no inline code, no framing: partner data cannot become code.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
DEMO_IDENTITIES = web.AppKey("demo_identities", list)
VOCABULARY = web.AppKey("vocabulary", object)
# Called per request: the words follow the running configuration, which a reload replaces as a whole.
Vocabulary = Callable[[web.Application], dict[str, Any]]

# GraphiQL, served from this gateway (gateway/ide/: pinned built files, see `make graphiql`), never a CDN.
IDE = Path(__file__).resolve().parent / "ide"
IDE_PREFIX = "/graphiql/"
# GraphiQL's editor sets inline styles and its CSS embeds fonts as data: URLs; scripts stay this origin's only.
IDE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def add_pages(app: web.Application, demo_identities: list[dict[str, Any]] | None,
              vocabulary: Vocabulary | None = None) -> None:
    for path, name in PAGES.items():
        app.router.add_get(path, _page(STATIC / name))
    app.router.add_static("/static/", STATIC, append_version=False)
    if vocabulary is not None:
        app[VOCABULARY] = vocabulary
        app.router.add_get("/vocabulary.json", _vocabulary)
    if demo_identities is not None:
        app[DEMO_IDENTITIES] = demo_identities
        app.router.add_get("/demo/identities", _identities)
    app.on_response_prepare.append(_secure)


def _page(file: Path) -> Any:
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(file, headers={"Cache-Control": "no-cache"})

    return handler


async def _identities(request: web.Request) -> web.Response:
    # Demo tokens only exist in demo mode; this route is not registered otherwise.
    return web.json_response(request.app[DEMO_IDENTITIES], headers={"Cache-Control": "no-store"})


async def _vocabulary(request: web.Request) -> web.Response:
    words: Vocabulary = request.app[VOCABULARY]  # type: ignore[assignment]
    return web.json_response(words(request.app), headers={"Cache-Control": "no-cache"})


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if request.path in PAGES or request.path.startswith("/static/"):
        response.headers.update(SECURITY_HEADERS)
    elif request.path.startswith(IDE_PREFIX):
        response.headers.update(IDE_HEADERS)


def add_ide(app: web.Application) -> None:
    """GraphiQL's assets under /graphiql/ (the page itself is `graphiql_page`, which view.py serves)."""
    app.router.add_static(IDE_PREFIX, IDE, append_version=False)


async def graphiql_page(request: web.Request) -> web.FileResponse:
    """The GraphiQL explorer for a person's browser at /graphql (view.py decides who gets it: a GET without an
    operation that asks for HTML). Served from gateway/ide/, nothing from a CDN; it executes nothing by itself,
    every query it sends comes back to /graphql as an ordinary request through the gate."""
    return web.FileResponse(IDE / "index.html", headers={"Cache-Control": "no-cache", **IDE_HEADERS})
