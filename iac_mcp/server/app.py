"""Building the MCP server: instructions, lifespan, the tool inventory, prompts, resources.

The server knows nothing of where Genesys is: the start-up layer hands it a factory that
opens the client (Genesys Cloud or the sandbox) and the ledger to keep its own state in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer
from mcp.server.request_state import RequestStateSecurity

from iac_mcp import __version__
from iac_mcp.genesys.client import IacClient
from iac_mcp.profiles import DEFAULT_PROFILE, Profile
from iac_mcp.server import completions, prompts, resources, tools
from iac_mcp.server.approvals import ApprovalDesk, PagesListener, deliver_approval_links, webhook_key
from iac_mcp.server.services import Org, Services, Starting, bind_services, bound_calls
from iac_mcp.server.tools.common import ICONS
from iac_mcp.settings import Settings

if TYPE_CHECKING:
    from iac_mcp.ledger import Ledger

INSTRUCTIONS = files("iac_mcp.server").joinpath("instructions.md").read_text(encoding="utf-8")

ClientFactory = Callable[[], AbstractAsyncContextManager[IacClient]]
"""Opens the Genesys client for the server's lifetime (real Genesys or the sandbox)."""

LedgerFactory = Callable[[], AbstractAsyncContextManager["Ledger"]]
"""Opens the ledger for the server's lifetime."""


@dataclass(frozen=True)
class OrgUpstream:
    """One org the server may act on: its profile, and how to open its client."""

    profile: Profile
    connect: ClientFactory


def approval_desk(settings: Settings, signing_key: bytes, listener: PagesListener | None = None) -> ApprovalDesk:
    """The approval desk under the server's key; its webhook signs with a key derived from
    `IAC_MCP_SIGNING_KEY` (none when unset). `listener` serves the pages to stdio clients."""
    secret = settings.signing_key.get_secret_value() if settings.signing_key else None
    return ApprovalDesk(signing_key, webhook_key=webhook_key(secret) if secret else None, listener=listener)


def build_server(
    connect: ClientFactory | Sequence[OrgUpstream],
    settings: Settings,
    *,
    ledger: LedgerFactory,
    signing_key: bytes | None = None,
    request_state_security: RequestStateSecurity | None = None,
    desk: ApprovalDesk | None = None,
    open_while_serving: bool = False,
) -> MCPServer[Starting]:
    """The iac-mcp server over whatever Genesys `connect` opens: one org (the profile
    `default`), or each org of a sequence, the first being the default.

    `signing_key` defaults to the settings' (random per process when none is configured).
    `request_state_security` seals mcp's multi-round `request_state`; replicas must share
    it (see `iac_mcp.transports.http`). None keeps mcp's per-process key. `desk` keeps
    approvals; by default one whose links come from the HTTP request's own base (the HTTP
    transport mounts its pages); stdio passes one with a loopback listener.
    `open_while_serving` opens the ledger and clients in the background (`Starting`), so that
    a client spawning the server lists its tools sooner; by default they open before the
    server answers anything, and a ledger that cannot open stops it there.
    """
    key = signing_key or settings.plan_signing_key()
    approvals = desk or approval_desk(settings, key)
    upstreams = (
        [OrgUpstream(Profile(DEFAULT_PROFILE, "Genesys Cloud", settings.mode), connect)] if callable(connect) else list(connect)
    )

    @asynccontextmanager
    async def open_services() -> AsyncIterator[Services]:
        async with AsyncExitStack() as stack:
            book = await stack.enter_async_context(ledger())
            orgs = {}
            for upstream in upstreams:
                client = await stack.enter_async_context(upstream.connect())
                orgs[upstream.profile.name] = Org(upstream.profile, client, book)
            await stack.enter_async_context(approvals.serving([org.approval_org for org in orgs.values()], book))
            yield Services(
                orgs=orgs, default_org=upstreams[0].profile.name, settings=settings, signing_key=key, ledger=book, desk=approvals
            )

    @asynccontextmanager
    async def lifespan(_: MCPServer[Starting]) -> AsyncIterator[Starting]:
        if open_while_serving:
            async with Starting.in_background(open_services) as starting:
                yield starting
        else:
            async with open_services() as services:
                yield Starting(services)

    server: MCPServer[Starting] = MCPServer(
        "iac-mcp",
        title="Genesys Cloud IaC",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        request_state_security=request_state_security,
        icons=ICONS,
        cache_hints=resources.CACHE_HINTS,
    )
    server.middleware.append(bind_services)
    server.middleware.append(bound_calls)
    tools.register(server, settings.mode, [upstream.profile for upstream in upstreams])
    server.middleware.append(deliver_approval_links)  # innermost: the call's span sees the input-required result
    prompts.register(server)
    resources.register(server)
    server.middleware.append(resources.spec_freshness)
    completions.register(server)
    return server
