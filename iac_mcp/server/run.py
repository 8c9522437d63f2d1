"""Running the server from the command line: pick the upstream, build, serve."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial

from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.logic.plan_token import signing_key_from_env
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.server.app import ClientFactory, build_server
from iac_mcp.server.upstream import genesys_client, sandbox_client

log = logging.getLogger("iac_mcp.server")


def upstream_from_args(args: argparse.Namespace) -> ClientFactory:
    """The Genesys client factory the options ask for; configuration errors surface here, at start-up."""
    if args.sandbox:
        app = create_app(SandboxSettings(catalog_dirs=list(args.catalog), job_duration=args.job_duration))
        log.info("Using the embedded Genesys sandbox (%d accelerators)", len(app.state.sandbox.catalog))
        return partial(sandbox_client, app)
    if args.catalog:
        raise ConfigurationError("--catalog only applies to the embedded sandbox: add --sandbox.")
    config = GenesysConfig.from_env(os.environ)
    log.info("Using Genesys Cloud at %s", config.api_base)
    return partial(genesys_client, config)


def serve(args: argparse.Namespace) -> int:
    try:
        connect = upstream_from_args(args)
    except (ConfigurationError, ValueError) as error:
        print(f"iac-mcp: {error}", file=sys.stderr)
        return 2
    server = build_server(connect, mode=args.mode, signing_key=signing_key_from_env(os.environ))
    log.info("Serving MCP over stdio in %s mode", args.mode)
    server.run("stdio")
    return 0
