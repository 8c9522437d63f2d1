"""Where the server's Genesys client points: Genesys Cloud, or the embedded sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.pacing import SlidingWindowLimiter
from iac_mcp.genesys.retry import RetryPolicy

SANDBOX_ORIGIN = "http://sandbox.iac-mcp.invalid"
"""A name that resolves nowhere: in-process requests never touch the network."""


@asynccontextmanager
async def genesys_client(config: GenesysConfig) -> AsyncIterator[IacClient]:
    async with IacClient(config) as client:
        yield client


@asynccontextmanager
async def sandbox_client(
    app: Starlette, *, retry: RetryPolicy | None = None, pacer: SlidingWindowLimiter | None = None
) -> AsyncIterator[IacClient]:
    """A client wired to an in-process sandbox app through httpx's ASGI transport.

    `retry` and `pacer` default to the client's own; reliability tests pass a policy that
    does not really sleep and a pacer wide enough for thousands of calls a minute.
    """
    settings = app.state.sandbox.settings
    config = GenesysConfig.for_sandbox(SANDBOX_ORIGIN, settings.client_id, settings.client_secret)
    async with IacClient(config, transport=httpx.ASGITransport(app=app), retry=retry, pacer=pacer) as client:
        yield client
