"""`python -m benchmarks.http_server UPSTREAM_URL PORT`: iac-mcp's HTTP app in its own process.

The same `create_app` as `iac-mcp serve --http`, but with client-side pacing lifted (as the
sandbox's rate limit is) so that 50 concurrent flows measure the server, not the 300/min
Genesys budget. The OAuth client pair is the sandbox's, read from the environment as
`iac-mcp serve` reads it.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import partial

import uvicorn

from benchmarks.common import http_sandbox_client
from iac_mcp.settings import load_settings
from iac_mcp.transports.http import create_app
from iac_mcp.upstream import open_ledger


def main() -> None:
    upstream, port = sys.argv[1], int(sys.argv[2])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    connect = partial(
        http_sandbox_client, upstream, os.environ["GENESYSCLOUD_OAUTHCLIENT_ID"], os.environ["GENESYSCLOUD_OAUTHCLIENT_SECRET"]
    )
    settings = load_settings({"http_tokens": (os.environ["BENCH_HTTP_TOKEN"],)})
    app = create_app(connect, settings, ledger=open_ledger(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
