"""The overhead benchmark's floor: the smallest `MCPServer` that forwards one request to Genesys.

One tool, `proxy`, sends the request it is given with a plain `httpx.AsyncClient` (one per
server, with a client-credentials token taken once, as iac-mcp keeps its own) and answers
with the raw JSON. Nothing of iac-mcp is imported, so what it costs over the same request
made directly is what mcp itself costs per call; iac-mcp's figures over it are its own.

`python benchmarks/proxy_server.py` serves stdio; `--http PORT` serves mcp's stateless
streamable HTTP app at /mcp under uvicorn, as `benchmarks.http_server` serves iac-mcp's.
Genesys is named by the environment `iac-mcp serve` reads (GENESYSCLOUD_API_REGION as a
base URL, as the benchmarks set it, and the OAuth client pair).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

HOST = "127.0.0.1"
MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
"""Where `tests/http_support.server_process` waits for an answer before the benchmark starts."""
TOKEN_PATH = "/oauth/token"
LOG_LEVEL: Final = "WARNING"
"""As `iac-mcp serve --log-level WARNING` runs in the benchmark: no log line per call."""
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Upstream:
    """Genesys (the sandbox) and the OAuth client pair to use it with."""

    url: str
    client_id: str
    client_secret: str

    @classmethod
    def from_env(cls) -> Upstream:
        return cls(
            os.environ["GENESYSCLOUD_API_REGION"],
            os.environ["GENESYSCLOUD_OAUTHCLIENT_ID"],
            os.environ["GENESYSCLOUD_OAUTHCLIENT_SECRET"],
        )


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build(upstream: Upstream) -> MCPServer[httpx.AsyncClient]:
    """The floor server over `upstream`, for in-process use or to run over a transport."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=upstream.url, timeout=TIMEOUT_SECONDS, trust_env=False) as http:
            answer = await http.post(
                TOKEN_PATH, auth=(upstream.client_id, upstream.client_secret), data={"grant_type": "client_credentials"}
            )
            answer.raise_for_status()
            http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            yield http

    server: MCPServer[httpx.AsyncClient] = MCPServer("proxy", lifespan=lifespan, log_level=LOG_LEVEL)

    @server.tool()
    async def proxy(
        path: str,
        ctx: Context[httpx.AsyncClient, Any],
        params: dict[str, str] | None = None,
        method: str = "GET",
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send `method` `path` with `params` (and a JSON `body`) upstream; answer with its JSON."""
        answer = await ctx.request_context.lifespan_context.request(method, path, params=params, json=body)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    server.custom_route(HEALTH_PATH, methods=["GET"])(healthz)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP (stateless) on this loopback port")
    port = parser.parse_args().http
    server = build(Upstream.from_env())
    if port is None:
        server.run("stdio")
        return
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True, host=HOST)
    uvicorn.run(app, host=HOST, port=port, log_level=LOG_LEVEL.lower(), access_log=False)


if __name__ == "__main__":
    main()
