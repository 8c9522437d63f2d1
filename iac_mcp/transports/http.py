"""Streamable HTTP: one shared, authenticated server for chat-ops bots and agent fleets.

The app is mcp's own streamable HTTP app at `/mcp`, in stateless mode so that any
worker or replica can answer any request: plan tokens and mcp's sealed `request_state`
carry the state of a flow, under keys derived from `IAC_MCP_SIGNING_KEY`. Around it:
bearer tokens (`auth`), Host/Origin checks against DNS rebinding and a body limit (mcp's
`TransportSecuritySettings` and `max_request_body_size`), and `/healthz` for liveness.

`iac-mcp serve --http` runs it under uvicorn. Operators who run uvicorn themselves, or
several workers (uvicorn needs an import string for those), use the factory, configured
by the environment: `uvicorn --factory iac_mcp.transports.http:create_app_from_env`.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast, get_args

import uvicorn
from mcp.server.request_state import RequestStateSecurity
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from iac_mcp import __version__
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.logic.plan_token import SIGNING_KEY_ENV, derive_key, signing_key_from_env
from iac_mcp.server.app import ClientFactory, build_server
from iac_mcp.server.state import Mode
from iac_mcp.transports import DEFAULT_MAX_BODY_BYTES
from iac_mcp.transports.auth import TOKEN_FILE_ENV, BearerGuard, StaticTokenVerifier, load_tokens

log = logging.getLogger("iac_mcp.http")

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
FACTORY = "iac_mcp.transports.http:create_app_from_env"
REQUEST_STATE_PURPOSE = "iac-mcp request state v1"
KEEP_ALIVE_SECONDS = 5
"""Idle keep-alive connections are closed after this long."""
GRACEFUL_SHUTDOWN_SECONDS = 10
"""On shutdown, streams still open (a get-job waiting up to 55 s) are cut after this long."""

HOST_ENV = "IAC_MCP_HTTP_HOST"
INSECURE_ENV = "IAC_MCP_HTTP_INSECURE_NO_AUTH"
ALLOWED_HOSTS_ENV = "IAC_MCP_HTTP_ALLOWED_HOSTS"
ALLOWED_ORIGINS_ENV = "IAC_MCP_HTTP_ALLOWED_ORIGINS"
MAX_BODY_ENV = "IAC_MCP_HTTP_MAX_BODY_BYTES"
STATEFUL_ENV = "IAC_MCP_HTTP_STATEFUL"
MODE_ENV = "IAC_MCP_MODE"
SANDBOX_ENV = "IAC_MCP_SANDBOX"
LOG_LEVEL_ENV = "IAC_MCP_LOG_LEVEL"

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class HttpOptions:
    """How the HTTP app guards itself. `host` is the address uvicorn binds."""

    host: str = "127.0.0.1"
    tokens: tuple[str, ...] = ()
    insecure_no_auth: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    stateful: bool = False
    """Handshake-era sessions held in this process (GET streams, session lifecycle): one
    process only. The default, stateless, lets any worker or replica serve any request."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpOptions:
        """The options the factory reads. Without `IAC_MCP_HTTP_HOST` the bind address is
        unknown (uvicorn does not tell the app), so the app assumes it is exposed."""
        return cls(
            host=env.get(HOST_ENV, "0.0.0.0"),
            tokens=tuple(load_tokens(env)),
            insecure_no_auth=_flag(env.get(INSECURE_ENV)),
            allowed_hosts=_listed(env.get(ALLOWED_HOSTS_ENV)),
            allowed_origins=_listed(env.get(ALLOWED_ORIGINS_ENV)),
            max_body_bytes=int(env.get(MAX_BODY_ENV) or DEFAULT_MAX_BODY_BYTES),
            stateful=_flag(env.get(STATEFUL_ENV)),
        )

    def to_env(self) -> dict[str, str]:
        """The variables that give uvicorn workers these options (tokens excepted: they
        travel as `IAC_MCP_HTTP_TOKENS` or a token file, never re-exported)."""
        return {
            HOST_ENV: self.host,
            INSECURE_ENV: "1" if self.insecure_no_auth else "",
            ALLOWED_HOSTS_ENV: ",".join(self.allowed_hosts),
            ALLOWED_ORIGINS_ENV: ",".join(self.allowed_origins),
            MAX_BODY_ENV: str(self.max_body_bytes),
            STATEFUL_ENV: "1" if self.stateful else "",
        }


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _listed(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(options: HttpOptions) -> None:
    """Refuse to serve beyond loopback without tokens, unless explicitly told to."""
    if options.tokens:
        log.info("Bearer-token authentication on %s (%d token(s))", MCP_PATH, len(options.tokens))
    elif is_loopback(options.host):
        log.info("No bearer tokens configured: serving without authentication on loopback only")
    elif options.insecure_no_auth:
        log.warning(
            "INSECURE: serving on %s WITHOUT authentication (--insecure-no-auth): anyone who reaches this "
            "address can run accelerators",
            options.host or "all interfaces",
        )
    else:
        raise ConfigurationError(
            f"Refusing to serve on {options.host or 'all interfaces'} without authentication: set "
            "IAC_MCP_HTTP_TOKENS or --token-file, bind to 127.0.0.1, or pass --insecure-no-auth."
        )


def _with_any_port(host: str) -> list[str]:
    """`host` as a Host header may spell it: bare (default port) or with any port."""
    return [host] if host.rsplit("]", 1)[-1].count(":") == 1 else [host, host + ":*"]


def transport_security(options: HttpOptions) -> TransportSecuritySettings:
    """DNS-rebinding protection: Host must name this server, Origin (when sent) must be ours.

    Loopback names are always allowed; so is the bound address, and on a wildcard bind
    this machine's host names. Anything else (a load balancer's name) is configured.
    """
    names = list(_LOOPBACK_NAMES)
    if options.host in _WILDCARDS:
        names += [socket.gethostname(), socket.getfqdn()]
    elif not is_loopback(options.host):
        names.append(f"[{options.host}]" if ":" in options.host else options.host)
    names = list(dict.fromkeys(names))
    hosts = [h for name in names for h in _with_any_port(name)]
    hosts += [h for name in options.allowed_hosts for h in _with_any_port(name)]
    origins = [f"{scheme}://{h}" for scheme in ("http", "https") for name in names for h in _with_any_port(name)]
    origins += list(options.allowed_origins)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


def request_state_security_from_env(env: Mapping[str, str]) -> RequestStateSecurity | None:
    """Seal mcp's `request_state` with a key every replica derives from `IAC_MCP_SIGNING_KEY`.

    None when unset: mcp then uses a random per-process key, which one process is fine with.
    """
    secret = env.get(SIGNING_KEY_ENV, "")
    return RequestStateSecurity(keys=[derive_key(secret, REQUEST_STATE_PURPOSE)]) if secret else None


async def healthz(_: Request) -> JSONResponse:
    """Liveness only: answers without touching Genesys, and says nothing about the setup."""
    return JSONResponse({"status": "ok", "version": __version__})


def create_app(
    connect: ClientFactory, *, mode: Mode = "apply", options: HttpOptions, env: Mapping[str, str] = os.environ
) -> Starlette:
    """The ASGI app: `/mcp` (streamable HTTP, stateless unless asked, guarded) and `/healthz` (open).

    Raises `ConfigurationError` when the options would expose the server unauthenticated.
    """
    check_exposure(options)
    if not env.get(SIGNING_KEY_ENV):
        log.warning(
            "%s is unset: plan tokens and request state use a random per-process key, so a flow cannot "
            "move between workers or replicas, nor survive a restart. Set it to the same secret everywhere.",
            SIGNING_KEY_ENV,
        )
    server = build_server(
        connect,
        mode=mode,
        signing_key=signing_key_from_env(env),
        request_state_security=request_state_security_from_env(env),
    )
    server.custom_route(HEALTH_PATH, methods=["GET"])(healthz)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=not options.stateful,
        transport_security=transport_security(options),
        max_request_body_size=options.max_body_bytes,
        host=options.host,
    )
    if options.tokens:
        app.add_middleware(BearerGuard, verifier=StaticTokenVerifier(list(options.tokens)), path=MCP_PATH)
    return app


def create_app_from_env() -> Starlette:
    """uvicorn factory, configured by the environment (see the module docstring and README).

    `IAC_MCP_SANDBOX=1` serves the in-process sandbox (one per worker: use a shared
    `iac-mcp sandbox` via `GENESYSCLOUD_API_REGION` with several workers); otherwise the
    `GENESYSCLOUD_*` variables name Genesys Cloud.
    """
    from iac_mcp.cli import configure_logging
    from iac_mcp.server.run import open_upstream

    configure_logging(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    mode = os.environ.get(MODE_ENV, "apply")
    if mode not in get_args(Mode):
        raise ConfigurationError(f"{MODE_ENV} must be one of {', '.join(get_args(Mode))}, not {mode!r}.")
    connect = open_upstream(sandbox=_flag(os.environ.get(SANDBOX_ENV)))
    return create_app(connect, mode=cast(Mode, mode), options=HttpOptions.from_env(os.environ))


def options_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> HttpOptions:
    return HttpOptions(
        host=args.host,
        tokens=tuple(load_tokens(env, args.token_file)),
        insecure_no_auth=args.insecure_no_auth,
        allowed_hosts=tuple(args.allowed_host),
        allowed_origins=tuple(args.allowed_origin),
        max_body_bytes=args.max_body_bytes,
        stateful=args.stateful,
    )


def serve_http(args: argparse.Namespace, connect: ClientFactory) -> int:
    """`iac-mcp serve --http`: uvicorn with the app, or with the factory for several workers.

    Workers are separate processes that rebuild the app from the environment, so the
    options are exported to it first; they need a shared signing key and a shared upstream.
    """
    options = options_from_args(args, os.environ)
    check_exposure(options)
    uvicorn_options = {
        "host": args.host,
        "port": args.port,
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "log_level": args.uvicorn_log_level,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    log.info("Serving MCP over streamable HTTP at http://%s:%d%s in %s mode", args.host, args.port, MCP_PATH, args.mode)
    if args.workers <= 1:
        uvicorn.run(create_app(connect, mode=args.mode, options=options), **uvicorn_options)
        return 0
    if options.stateful:
        raise ConfigurationError("--stateful keeps sessions in one process: it cannot be combined with --workers.")
    if args.sandbox:
        raise ConfigurationError(
            "--workers needs one upstream shared by all workers: run `iac-mcp sandbox` and point "
            "GENESYSCLOUD_API_REGION at it instead of --sandbox."
        )
    if not os.environ.get(SIGNING_KEY_ENV):
        raise ConfigurationError(f"--workers needs {SIGNING_KEY_ENV}, so every worker can verify the others' state.")
    os.environ.update(options.to_env())
    os.environ[MODE_ENV] = args.mode
    if args.token_file:
        os.environ[TOKEN_FILE_ENV] = str(Path(args.token_file).resolve())
    uvicorn.run(FACTORY, factory=True, workers=args.workers, **uvicorn_options)
    return 0
