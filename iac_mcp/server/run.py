"""Running the server from the command line: pick the upstream, build, serve."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.logic.plan_token import signing_key_from_env
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.server.app import ClientFactory, build_server
from iac_mcp.server.upstream import genesys_client, sandbox_client

log = logging.getLogger("iac_mcp.server")


def open_upstream(*, sandbox: bool, catalog: Sequence[Path] = (), job_duration: float = 3.0) -> ClientFactory:
    """The Genesys client factory asked for; configuration errors surface here, at start-up.

    Shared by the command line and the HTTP app factory, which reads the environment.
    """
    if sandbox:
        app = create_app(SandboxSettings(catalog_dirs=list(catalog), job_duration=job_duration))
        log.info("Using the embedded Genesys sandbox (%d accelerators)", len(app.state.sandbox.catalog))
        return partial(sandbox_client, app)
    if catalog:
        raise ConfigurationError("--catalog only applies to the embedded sandbox: add --sandbox.")
    config = GenesysConfig.from_env(os.environ)
    log.info("Using Genesys Cloud at %s", config.api_base)
    return partial(genesys_client, config)


def serve(args: argparse.Namespace) -> int:
    try:
        connect = open_upstream(sandbox=args.sandbox, catalog=args.catalog, job_duration=args.job_duration)
        if args.http:
            from iac_mcp.transports.http import serve_http

            return serve_http(args, connect)
    except (ConfigurationError, ValueError) as error:
        print(f"iac-mcp: {error}", file=sys.stderr)
        return 2
    server = build_server(connect, mode=args.mode, signing_key=signing_key_from_env(os.environ))
    log.info("Serving MCP over stdio in %s mode", args.mode)
    server.run("stdio")
    return 0
