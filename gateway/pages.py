"""The three pages a person uses — customer 360 at `/`, `/self-service`, `/compliance` — served as static
files from `gateway/static/` (no build step, nothing from a CDN, so they work offline).

The pages hold no privileges of their own: they call `/graphql` with the token the user chose or pasted,
and show exactly what the API returned (values are set as text, never as HTML). In demo mode only,
`/demo/identities` hands the page the demo's tokens so that a person can switch roles with one click."""

from __future__ import annotations

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


def add_pages(app: web.Application, demo_identities: list[dict[str, Any]] | None) -> None:
    for path, name in PAGES.items():
        app.router.add_get(path, _page(STATIC / name))
    app.router.add_static("/static/", STATIC, append_version=False)
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


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if request.path in PAGES or request.path.startswith("/static/"):
        response.headers.update(SECURITY_HEADERS)
    elif request.path.startswith(IDE_PREFIX) or request.get(_IDE_PAGE):
        response.headers.update(IDE_HEADERS)


_IDE_PAGE = web.RequestKey("ide_page", bool)


def wants_ide(request: web.Request) -> bool:
    """A person's browser opening /graphql: a GET that carries no operation and asks for HTML. Anything else on
    /graphql (an operation, or a GET from a program) is GraphQL and passes authentication like every request."""
    if request.method != "GET" or request.path != "/graphql" or request.query:
        return False
    return any(part.split(";", 1)[0].strip() == "text/html" for part in request.headers.get("Accept", "").split(","))


def add_ide(app: web.Application) -> None:
    """GraphiQL at GET /graphql (for browsers only, see `wants_ide`) with its assets under /graphiql/."""
    app.router.add_static(IDE_PREFIX, IDE, append_version=False)
    app.middlewares.append(_ide)
    if _secure not in app.on_response_prepare:
        app.on_response_prepare.append(_secure)


@web.middleware
async def _ide(request: web.Request, handler: Any) -> web.StreamResponse:
    # The page itself holds no data and runs nothing: its requests to /graphql carry the user's token.
    if wants_ide(request):
        request[_IDE_PAGE] = True
        return web.FileResponse(IDE / "index.html", headers={"Cache-Control": "no-cache"})
    return await handler(request)
