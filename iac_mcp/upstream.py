"""What the server runs against: Genesys Cloud or the embedded sandbox, and its ledger.

The start-up layer's choice, kept out of the server package: the server only ever sees a
factory that opens an `IacClient`, and one that opens the ledger. `audit` needs the ledger
alone: the server and telemetry are imported by what opens an upstream.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.genesys.metering import MeteringTransport
from iac_mcp.genesys.pacing import SlidingWindowLimiter
from iac_mcp.genesys.retry import RetryPolicy
from iac_mcp.ledger import default_database_url, open_at
from iac_mcp.profiles import load_profiles
from iac_mcp.settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from iac_mcp.ledger import Ledger
    from iac_mcp.server.app import LedgerFactory, OrgUpstream

log = logging.getLogger("iac_mcp")

SANDBOX_ORIGIN = "http://sandbox.iac-mcp.invalid"
"""A name that resolves nowhere: in-process requests never touch the network."""


_ORIGINS: weakref.WeakKeyDictionary[Starlette, str] = weakref.WeakKeyDictionary()


def sandbox_origin(app: Starlette) -> str:
    """A name of its own for each embedded sandbox, the same for every client of it: each is a
    new org (its jobs live in memory, its seeded job ids repeat on every start), so the ledger
    must never mistake one for another."""
    if app not in _ORIGINS:
        _ORIGINS[app] = SANDBOX_ORIGIN.replace("sandbox.", f"sandbox-{uuid.uuid4().hex[:12]}.", 1)
    return _ORIGINS[app]


def metered(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """The transport, metered when telemetry records (each attempt: under retries and pacing)."""
    from iac_mcp.telemetry import upstream_observer

    observe = upstream_observer()
    return MeteringTransport(transport, observe) if observe is not None else transport


@asynccontextmanager
async def genesys_client(config: GenesysConfig) -> AsyncIterator[IacClient]:
    async with IacClient(config, transport=metered(httpx.AsyncHTTPTransport())) as client:
        yield client


@asynccontextmanager
async def sandbox_client(
    app: Starlette,
    *,
    org: str | None = None,
    retry: RetryPolicy | None = None,
    pacer: SlidingWindowLimiter | None = None,
) -> AsyncIterator[IacClient]:
    """A client wired to an in-process sandbox app through httpx's ASGI transport, logged in
    as the OAuth client of the sandbox org `org` (default: its first).

    `retry` and `pacer` default to the client's own; reliability tests pass a policy that
    does not really sleep and a pacer wide enough for thousands of calls a minute.
    """
    settings = app.state.sandbox.settings
    served = settings.org(org) if org else settings
    config = GenesysConfig.for_sandbox(sandbox_origin(app), served.client_id, served.client_secret)
    async with IacClient(config, transport=metered(httpx.ASGITransport(app=app)), retry=retry, pacer=pacer) as client:
        yield client


def embedded_sandbox(settings: Settings) -> Starlette:
    from iac_mcp.sandbox.app import create_app
    from iac_mcp.sandbox.settings import SandboxSettings, named_orgs

    orgs = named_orgs(settings.sandbox_orgs) if settings.sandbox_orgs else []
    app = create_app(
        SandboxSettings(catalog_dirs=[Path(d) for d in settings.catalog], job_duration=settings.job_duration, orgs=orgs)
    )
    log.info(
        "Using the embedded Genesys sandbox (%d accelerators, orgs: %s)",
        len(app.state.sandbox.catalog),
        ", ".join(org.name for org in app.state.sandbox.settings.served_orgs),
    )
    return app


def open_upstream(settings: Settings) -> list[OrgUpstream]:
    """The orgs the settings name, each with its client factory; configuration errors surface here."""
    from iac_mcp.server.app import OrgUpstream

    if settings.catalog and not settings.sandbox:
        raise ConfigurationError("--catalog (IAC_MCP_SANDBOX_CATALOG) only applies to the embedded sandbox: add --sandbox.")
    profiles = load_profiles(settings)
    if settings.sandbox:
        app = embedded_sandbox(settings)
        return [OrgUpstream(profile, partial(sandbox_client, app, org=profile.sandbox_org)) for profile in profiles]
    upstreams = []
    for profile in profiles:
        assert profile.genesys is not None  # only sandbox orgs have none
        log.info("Org %s: Genesys Cloud at %s (%s)", profile.name, profile.genesys.api_base, profile.mode)
        upstreams.append(OrgUpstream(profile, partial(genesys_client, profile.genesys)))
    return upstreams


def database_url(settings: Settings) -> str:
    return settings.database_url.get_secret_value() if settings.database_url else default_database_url()


@asynccontextmanager
async def ledger_at(url: str) -> AsyncIterator[Ledger]:
    book = await open_at(url)
    try:
        yield book
    finally:
        await book.aclose()


def open_ledger(settings: Settings) -> LedgerFactory:
    return partial(ledger_at, database_url(settings))
