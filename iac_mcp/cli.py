"""The `iac-mcp` command: serve, demo, sandbox."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from iac_mcp import __version__
from iac_mcp.transports import DEFAULT_MAX_BODY_BYTES

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Logs go to stderr: stdout belongs to the stdio transport."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)


def add_upstream_arguments(parser: argparse.ArgumentParser) -> None:
    """Options choosing Genesys Cloud or the embedded sandbox, shared by serve and demo."""
    group = parser.add_argument_group("upstream")
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the embedded Genesys sandbox instead of Genesys Cloud (no credentials needed)",
    )
    group.add_argument(
        "--catalog",
        metavar="DIR",
        type=Path,
        action="append",
        default=[],
        help="with --sandbox: add every *.json accelerator specification in DIR (repeatable)",
    )
    group.add_argument(
        "--job-duration",
        metavar="SECONDS",
        type=float,
        default=3.0,
        help="with --sandbox: simulated seconds a job takes from Created to done (default 3)",
    )


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    """`serve --http` options: where to listen, uvicorn's own knobs, authentication, request checks."""
    group = parser.add_argument_group("streamable HTTP (with --http)")
    group.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp (and /healthz) instead of stdio")
    group.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    group.add_argument("--port", type=int, default=8000, help="port to bind (default %(default)s)")
    group.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1; more need IAC_MCP_SIGNING_KEY)"
    )
    group.add_argument(
        "--proxy-headers", action="store_true", help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips"
    )
    group.add_argument(
        "--forwarded-allow-ips", metavar="IPS", help="proxies trusted for proxy headers (uvicorn's default: 127.0.0.1)"
    )
    group.add_argument("--uvicorn-log-level", default="info", metavar="LEVEL", help="uvicorn's log level (default info)")
    group.add_argument(
        "--token-file", type=Path, metavar="PATH", help="bearer tokens, one a line (in addition to $IAC_MCP_HTTP_TOKENS)"
    )
    group.add_argument(
        "--insecure-no-auth", action="store_true", help="allow a non-loopback --host without tokens (logs a warning)"
    )
    group.add_argument(
        "--allowed-host", action="append", default=[], metavar="HOST", help="extra Host header accepted (repeatable)"
    )
    group.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="extra Origin accepted, e.g. https://chat.example.com (repeatable)",
    )
    group.add_argument(
        "--stateful",
        action="store_true",
        help="keep handshake-era sessions in this process (one process only; default: stateless)",
    )
    group.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="larger request bodies get 413 (default %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iac-mcp",
        description="An MCP server for the Genesys Cloud Infrastructure-as-Code API.",
    )
    parser.add_argument("--version", action="version", version=f"iac-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve MCP over stdio (what MCP clients launch) or streamable HTTP (--http)",
        description=(
            "Serve the MCP server. Without --sandbox it talks to Genesys Cloud, configured by "
            "GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET and GENESYSCLOUD_REGION "
            "(or GENESYSCLOUD_API_REGION, or GENESYSCLOUD_ACCESS_TOKEN)."
        ),
    )
    add_upstream_arguments(serve)
    serve.add_argument(
        "--mode",
        choices=("read-only", "dry-run-only", "apply"),
        default=os.environ.get("IAC_MCP_MODE", "apply"),
        help="read-only: no submit-job; dry-run-only: plans only; apply: guarded real runs "
        "(default: $IAC_MCP_MODE or apply)",
    )
    serve.add_argument("--log-level", default="INFO", help="stderr log level (default INFO)")
    add_http_arguments(serve)

    demo = commands.add_parser(
        "demo",
        help="play an agent's conversation end to end against the embedded sandbox",
        description="Start the server on the embedded sandbox, connect a real MCP client over stdio, "
        "and print the transcript of an agent deploying an accelerator.",
    )
    demo.add_argument(
        "--job-duration",
        metavar="SECONDS",
        type=float,
        default=1.5,
        help="simulated seconds a sandbox job takes (default 1.5)",
    )

    commands.add_parser(
        "sandbox",
        help="serve the Genesys sandbox over HTTP (see `iac-mcp sandbox --help`)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        from iac_mcp.sandbox.serve import main as sandbox_main

        return sandbox_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from iac_mcp.demo import run_demo

        return run_demo(job_duration=args.job_duration)
    configure_logging(args.log_level)
    from iac_mcp.server.run import serve

    return serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
