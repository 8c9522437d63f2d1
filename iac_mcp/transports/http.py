"""Streamable HTTP: one shared, authenticated server for chat-ops bots and agent fleets.

The app is mcp's own streamable HTTP app at `/mcp`, in stateless mode so that any
worker or replica can answer any request: plan tokens and mcp's sealed `request_state`
carry the state of a flow, under keys derived from `IAC_MCP_SIGNING_KEY`. Around it:
bearer tokens (`auth`), Host/Origin checks against DNS rebinding and a body limit (mcp's
`TransportSecuritySettings` and `max_request_body_size`), and `/healthz` for liveness.

`iac-mcp serve --http` runs it under uvicorn, with `--workers` processes that each receive
the validated settings. Operators who run uvicorn themselves use the factory, configured
by the environment: `uvicorn --factory iac_mcp.startup:http_app_from_env`.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import uvicorn
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.request_state import RequestStateSecurity
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl, ConfigDict, TypeAdapter
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from iac_mcp import __version__
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.logic.plan_token import derive_key
from iac_mcp.server.app import ClientFactory, LedgerFactory, OrgUpstream, approval_desk, build_server
from iac_mcp.server.approvals import APPROVALS_PATH
from iac_mcp.settings import ENVIRONMENT_VARIABLES, OAuthResourceServer, Settings
from iac_mcp.transports.addresses import is_loopback
from iac_mcp.transports.approval_pages import approval_routes
from iac_mcp.transports.auth import BearerGuard, EitherVerifier, StaticTokenVerifier
from iac_mcp.transports.identities import NamedToken
from iac_mcp.transports.limits import HttpConfig, SessionQuota, live_sessions
from iac_mcp.transports.oauth import JwtVerifier

log = logging.getLogger("iac_mcp.http")

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
REQUEST_STATE_PURPOSE = "iac-mcp request state v1"
KEEP_ALIVE_SECONDS = 5
"""Idle keep-alive connections are closed after this long."""
GRACEFUL_SHUTDOWN_SECONDS = 10
WORKER_START_SECONDS = 60
"""A worker imports mcp and builds the app before it answers uvicorn's health check (5 s by
default, which a loaded machine misses: the worker is then killed and restarted in a loop)."""
"""On shutdown, streams still open (a get-job waiting up to 40 s) are cut after this long."""

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("0.0.0.0", "::", "")
_TOKENS = f"{ENVIRONMENT_VARIABLES['http_tokens']}, --token-file or --oauth-issuer/--oauth-audience/--oauth-jwks-url"


def check_exposure(settings: Settings, tokens: Sequence[NamedToken], oauth: OAuthResourceServer | None = None) -> None:
    """Refuse to serve beyond loopback without authentication (tokens or OAuth), unless explicitly
    told to; never trust proxy headers without it (behind a proxy every peer looks like loopback)."""
    authenticated = bool(tokens) or oauth is not None
    if not authenticated and (settings.proxy_headers or settings.forwarded_allow_ips):
        raise ConfigurationError(
            f"Refusing to trust proxy headers without authentication: behind a proxy every caller looks local. "
            f"Set {_TOKENS}, or drop --proxy-headers/--forwarded-allow-ips."
        )
    if tokens:
        log.info("Bearer-token authentication on %s (%d named token(s))", MCP_PATH, len(tokens))
    if oauth is not None:
        log.info("OAuth access tokens accepted on %s from issuer %s for audience %s", MCP_PATH, oauth.issuer, oauth.audience)
    if authenticated:
        return
    if is_loopback(settings.host):
        log.info("No bearer tokens configured: serving without authentication on loopback only")
    elif settings.insecure_no_auth:
        log.warning(
            "INSECURE: serving on %s WITHOUT authentication (--insecure-no-auth): anyone who reaches this "
            "address can run accelerators",
            settings.host or "all interfaces",
        )
    else:
        raise ConfigurationError(
            f"Refusing to serve on {settings.host or 'all interfaces'} without authentication: set "
            f"{_TOKENS}, bind to 127.0.0.1, or pass --insecure-no-auth."
        )


def _with_any_port(host: str) -> list[str]:
    """`host` as a Host header may spell it: bare (default port) or with any port."""
    return [host] if host.rsplit("]", 1)[-1].count(":") == 1 else [host, host + ":*"]


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: Host must name this server, Origin (when sent) must be ours.

    Loopback names are always allowed; so is the bound address, and on a wildcard bind
    this machine's host names. Anything else (a load balancer's name) is configured.
    """
    names = list(_LOOPBACK_NAMES)
    if settings.host in _WILDCARDS:
        names += [socket.gethostname(), socket.getfqdn()]
    elif not is_loopback(settings.host):
        names.append(f"[{settings.host}]" if ":" in settings.host else settings.host)
    names = list(dict.fromkeys(names))
    hosts = [h for name in names for h in _with_any_port(name)]
    hosts += [h for name in settings.allowed_hosts for h in _with_any_port(name)]
    origins = [f"{scheme}://{h}" for scheme in ("http", "https") for name in names for h in _with_any_port(name)]
    origins += list(settings.allowed_origins)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


def header_allowed(value: str, allowed: list[str]) -> bool:
    """Whether a Host or Origin value is one of `allowed`, where `name:*` means `name` with a numeric port.

    mcp matches `name:*` by prefix, so `localhost:8000.evil.example` or `localhost:8000@evil.example`
    would pass as "localhost with some port". Here the port must be 1 to 5 digits and end the value.
    """
    if value in allowed:
        return True
    base, colon, port = value.rpartition(":")
    return bool(colon) and port.isascii() and port.isdigit() and len(port) <= 5 and f"{base}:*" in allowed


class ExactHostGuard:
    """ASGI wrapper: under `path`, a Host (421) or Origin (403) that is not exactly ours is refused
    before mcp's own, prefix-matching check sees it. A missing Host or Origin is left to mcp,
    unless `require_host` (for routes mcp does not guard)."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings, path: str, require_host: bool = False) -> None:
        self._app = app
        self._security = security
        self._path = path.rstrip("/")
        self._require_host = require_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self._path or path.startswith(self._path + "/")):
            headers = Headers(scope=scope)
            host, origin = headers.get("host"), headers.get("origin")
            if (host or self._require_host) and not header_allowed(host or "", self._security.allowed_hosts):
                await Response("Invalid Host header", status_code=421)(scope, receive, send)
                return
            if origin and not header_allowed(origin, self._security.allowed_origins):
                await Response("Invalid Origin header", status_code=403)(scope, receive, send)
                return
        await self._app(scope, receive, send)


class NoStreamsWhenStateless:
    """ASGI wrapper: in stateless mode there is no session to stream to, and mcp would hold a GET
    (or accept a DELETE) open forever; under `path` they get 405 with `Allow: POST` instead."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self._app = app
        self._path = path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "DELETE") and scope.get("path", "").rstrip("/") == self._path:
            body = "This server is stateless: send requests with POST (no standalone streams or sessions)."
            await Response(body, status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        await self._app(scope, receive, send)


FORWARDED_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")


class LoopbackOnly:
    """ASGI wrapper for a server without bearer tokens: only a loopback peer that no proxy
    forwarded may call it, whatever the configured host says (uvicorn does not tell the app
    where it really bound, and a proxy in front makes every caller look local)."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self._app = app
        self._path = path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").rstrip("/") == self._path:
            peer = (scope.get("client") or ("", 0))[0]
            forwarded = any(name in Headers(scope=scope) for name in FORWARDED_HEADERS)
            if forwarded or not is_loopback(peer):
                body = "This server has no bearer tokens, so it serves only local, unproxied callers."
                await Response(body, status_code=403)(scope, receive, send)
                return
        await self._app(scope, receive, send)


def request_state_security(settings: Settings) -> RequestStateSecurity | None:
    """Seal mcp's `request_state` with a key every replica derives from `IAC_MCP_SIGNING_KEY`.

    None when unset: mcp then uses a random per-process key, which one process is fine with.
    """
    secret = settings.signing_key.get_secret_value() if settings.signing_key else ""
    return RequestStateSecurity(keys=[derive_key(secret, REQUEST_STATE_PURPOSE)]) if secret else None


class NoApprovalQueries(logging.Filter):
    """uvicorn's access log without the query strings of the approval pages: the sign-in
    callback's carries the person's authorization code (`?code=...&state=...`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path = args[2].split("?", 1)[0]
            if unquote(path).startswith(APPROVALS_PATH):
                record.args = (*args[:2], path + "?[withheld]", *args[3:])
        return True


def quiet_approval_queries() -> None:
    """Install `NoApprovalQueries` on uvicorn's access logger (once per process)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, NoApprovalQueries) for f in access.filters):
        access.addFilter(NoApprovalQueries())


async def healthz(_: Request) -> JSONResponse:
    """Liveness only: answers without touching Genesys, and says nothing about the setup."""
    return JSONResponse({"status": "ok", "version": __version__})


def create_app(
    connect: ClientFactory | Sequence[OrgUpstream],
    settings: Settings,
    *,
    ledger: LedgerFactory,
    signing_key: bytes | None = None,
) -> Starlette:
    """The ASGI app: `/mcp` (streamable HTTP, stateless unless asked, guarded), `/approvals` (the
    approval pages, where people sign in with Genesys; exact Host and Origin) and `/healthz` (open).

    Raises `ConfigurationError` when the settings would expose the server unauthenticated.
    """
    tokens, oauth = settings.bearer_tokens(), settings.oauth()
    check_exposure(settings, tokens, oauth)
    if settings.signing_key is None:
        log.warning(
            "%s is unset: plan tokens and request state use a random per-process key, so a flow cannot "
            "move between workers or replicas, nor survive a restart. Set it to the same secret everywhere.",
            ENVIRONMENT_VARIABLES["signing_key"],
        )
    key = signing_key or settings.plan_signing_key()
    desk = approval_desk(settings, key)
    server = build_server(
        connect, settings, ledger=ledger, signing_key=key, request_state_security=request_state_security(settings), desk=desk
    )
    server.custom_route(HEALTH_PATH, methods=["GET"])(healthz)
    security = transport_security(settings)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=not settings.stateful,
        transport_security=security,
        max_request_body_size=settings.max_body_bytes,
        session_idle_timeout=settings.session_idle_timeout,
        host=settings.host,
    )
    if settings.stateful:
        app.add_middleware(
            SessionQuota,
            sessions=live_sessions(server.session_manager),
            limit=settings.sessions_per_principal,
            idle_timeout=settings.session_idle_timeout,
            path=MCP_PATH,
        )
    app.add_middleware(ExactHostGuard, security=security, path=MCP_PATH)
    app.router.routes.extend(approval_routes(desk))
    app.add_middleware(ExactHostGuard, security=security, path=APPROVALS_PATH, require_host=True)
    quiet_approval_queries()
    if not settings.stateful:
        app.add_middleware(NoStreamsWhenStateless, path=MCP_PATH)
    if tokens or oauth:
        add_authentication(app, tokens, oauth)
    elif not settings.insecure_no_auth:
        app.add_middleware(LoopbackOnly, path=MCP_PATH)
    return app


_URL = TypeAdapter(AnyHttpUrl, config=ConfigDict(url_preserve_empty_path=True))
"""URLs as configured: `https://idp.example` must not grow a slash (issuers compare as exact strings)."""


def add_authentication(app: Starlette, tokens: Sequence[NamedToken], oauth: OAuthResourceServer | None) -> None:
    """Guard `/mcp` with the named tokens and/or OAuth; with OAuth, serve mcp's protected-resource
    metadata (RFC 9728) naming the issuer, and point every 401 at it."""
    metadata_url = None
    if oauth is not None:
        resource = _URL.validate_python(oauth.resource_url)
        app.router.routes.extend(create_protected_resource_routes(resource, [_URL.validate_python(oauth.issuer)]))
        metadata_url = build_resource_metadata_url(resource)
    verifier = EitherVerifier(StaticTokenVerifier(tokens) if tokens else None, JwtVerifier(oauth) if oauth is not None else None)
    app.add_middleware(BearerGuard, verifier=verifier, path=MCP_PATH, resource_metadata_url=metadata_url)


AppBuilder = Callable[[Settings], Starlette]
"""Builds the whole app from settings: picklable (a module-level function), for workers."""


@dataclass(frozen=True)
class WorkerApp:
    """uvicorn's app factory for worker processes: the validated settings travel with it.

    uvicorn pickles its config into each spawned worker; this object is that config's app,
    so every worker builds the app from the very settings the parent validated, with no
    round trip through the environment.
    """

    build: AppBuilder
    settings: Settings

    def __call__(self) -> Starlette:
        return self.build(self.settings)


def serve_http(settings: Settings, build: AppBuilder) -> int:
    """`iac-mcp serve --http`: uvicorn with the app, or with one app per worker process."""
    check_exposure(settings, settings.bearer_tokens(), settings.oauth())
    if settings.workers > 1:
        if settings.stateful:
            raise ConfigurationError("--stateful keeps sessions in one process: it cannot be combined with --workers.")
        if settings.sandbox:
            raise ConfigurationError(
                "--workers needs one upstream shared by all workers: run `iac-mcp sandbox` and point "
                "GENESYSCLOUD_API_REGION at it instead of --sandbox."
            )
        if settings.signing_key is None:
            raise ConfigurationError(
                f"--workers needs {ENVIRONMENT_VARIABLES['signing_key']}, so every worker can verify the others' state."
            )
    config = HttpConfig(
        WorkerApp(build, settings),
        read_timeout=settings.read_timeout,
        limit_concurrency=settings.limit_concurrency,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=settings.proxy_headers,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.uvicorn_log_level,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
        log_config=None,  # uvicorn's lines go through ours (text or JSON), in the parent process too
    )
    log.info(
        "Serving MCP over streamable HTTP at http://%s:%d%s in %s mode (%d worker(s))",
        settings.host,
        settings.port,
        MCP_PATH,
        settings.mode,
        settings.workers,
    )
    server = uvicorn.Server(config)
    if settings.workers == 1:
        server.run()
        return 0 if server.started else 1
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0
