"""The one way in: command line → settings → upstream → server → transport.

`iac-mcp serve | check | audit | demo | sandbox`. Flags and environment variables are two
spellings of the same `Settings` fields (a flag wins); they are validated once, here, and
the objects built from them are passed on explicitly. Configuration errors exit 2 with
one message naming the variables; upstream failures of `check` exit 1.

Each command imports what it uses when it runs, so that `sandbox`, `demo`, `--help` and
`--version` never load the MCP server, the ledger or its database drivers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio

from iac_mcp import __version__
from iac_mcp.genesys.errors import ConfigurationError, GenesysError, PermissionDeniedError
from iac_mcp.settings import ENVIRONMENT_VARIABLES, Approval, ConsentPolicy, LogFormat, LogLevel, Mode, Settings, load_settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from iac_mcp.server.app import OrgUpstream

TEXT_LOG_LINE = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

log = logging.getLogger("iac_mcp")


def configure_logging(level: LogLevel, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Logs go to stderr: stdout belongs to the stdio transport.

    In JSON, uvicorn's loggers lose their own text handlers and go through the root's, so
    every line on stderr is one JSON object (a worker calls this after uvicorn set them up).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(TEXT_LOG_LINE))
    if log_format is LogFormat.JSON:
        from iac_mcp.telemetry import JsonFormatter

        handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.value, handlers=[handler], force=True)
    if log_format is LogFormat.JSON:
        for name in UVICORN_LOGGERS:
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True


# --- The command line ----------------------------------------------------------------


def _flag(group: argparse._ArgumentGroup, field: str, *flags: str, **options: Any) -> None:
    """A flag for a settings field: help from the field, the variable named beside it.

    Flags default to "not given" so that the environment (read by `Settings`) applies.
    """
    info = Settings.model_fields[field]
    help_text = f"{info.description} (${ENVIRONMENT_VARIABLES[field]})"
    group.add_argument(*flags, dest=field, default=argparse.SUPPRESS, help=help_text, **options)


def _upstream_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("upstream")
    _flag(group, "sandbox", "--sandbox", action="store_true")
    _flag(group, "catalog", "--catalog", metavar="DIR", action="append")
    _flag(group, "job_duration", "--job-duration", metavar="SECONDS")
    _flag(group, "sandbox_orgs", "--sandbox-orgs", metavar="NAMES")
    _flag(group, "profiles_file", "--profiles", metavar="PATH")
    _flag(group, "gc_config", "--gc-config", metavar="PATH")


def _server_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    _flag(group, "mode", "--mode", metavar="|".join(m.value for m in Mode))
    _flag(group, "consent", "--consent", metavar="|".join(c.value for c in ConsentPolicy))
    _flag(group, "approval", "--approval", metavar="|".join(a.value for a in Approval))
    _flag(group, "approval_port", "--approval-port", metavar="PORT")
    _flag(group, "log_level", "--log-level", metavar="LEVEL")
    _flag(group, "log_format", "--log-format", metavar="|".join(f.value for f in LogFormat))
    _flag(group, "call_time_limit", "--call-time-limit", metavar="SECONDS")
    _flag(group, "waits_per_caller", "--waits-per-caller", metavar="N")


def _http_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("streamable HTTP")
    group.add_argument(
        "--http",
        dest="transport",
        action="store_const",
        const="http",
        default=argparse.SUPPRESS,
        help="serve streamable HTTP at /mcp (and /healthz) instead of stdio ($IAC_MCP_TRANSPORT=http)",
    )
    _flag(group, "host", "--host")
    _flag(group, "port", "--port")
    _flag(group, "workers", "--workers")
    _flag(group, "proxy_headers", "--proxy-headers", action="store_true")
    _flag(group, "forwarded_allow_ips", "--forwarded-allow-ips", metavar="IPS")
    _flag(group, "uvicorn_log_level", "--uvicorn-log-level", metavar="LEVEL")
    _flag(group, "token_file", "--token-file", metavar="PATH")
    _flag(group, "insecure_no_auth", "--insecure-no-auth", action="store_true")
    _flag(group, "allowed_hosts", "--allowed-host", metavar="HOST", action="append")
    _flag(group, "allowed_origins", "--allowed-origin", metavar="ORIGIN", action="append")
    _flag(group, "stateful", "--stateful", action="store_true")
    _flag(group, "max_body_bytes", "--max-body-bytes", metavar="N")
    _flag(group, "read_timeout", "--read-timeout", metavar="SECONDS")
    _flag(group, "limit_concurrency", "--limit-concurrency", metavar="N")
    _flag(group, "sessions_per_principal", "--sessions-per-principal", metavar="N")
    _flag(group, "session_idle_timeout", "--session-idle-timeout", metavar="SECONDS")
    _flag(group, "oauth_issuer", "--oauth-issuer", metavar="URL")
    _flag(group, "oauth_audience", "--oauth-audience", metavar="AUDIENCE")
    _flag(group, "oauth_jwks_url", "--oauth-jwks-url", metavar="URL")
    _flag(group, "oauth_resource_url", "--oauth-resource-url", metavar="URL")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iac-mcp", description="An MCP server for the Genesys Cloud Infrastructure-as-Code API."
    )
    parser.add_argument("--version", action="version", version=f"iac-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve MCP over stdio (what MCP clients launch) or streamable HTTP (--http)")
    for add in (_upstream_flags, _server_flags, _http_flags):
        add(serve)

    check = commands.add_parser("check", help="check the configuration and reach Genesys: exit 0 if serve would work")
    _upstream_flags(check)
    _server_flags(check)

    audit = commands.add_parser("audit", help="print the audit trail of submissions")
    audit.add_argument("--json", action="store_true", help="one JSON object a line")
    audit.add_argument("--since", type=datetime.fromisoformat, metavar="ISO-TIME", help="only records from this time on")
    audit.add_argument("--limit", type=int, default=50, help="at most this many records, newest first (default 50)")

    demo = commands.add_parser("demo", help="play an agent's conversation end to end against the embedded sandbox")
    demo.add_argument("--job-duration", type=float, default=1.5, metavar="SECONDS", help="seconds a sandbox job takes")
    demo.add_argument("--promote", action="store_true", help="play a promotion from dev to prod instead")

    commands.add_parser("sandbox", help="serve the Genesys sandbox over HTTP (see `iac-mcp sandbox --help`)", add_help=False)
    return parser


COMMAND_ONLY = ("command", "json", "since", "limit", "promote")
"""Parsed arguments that are not settings: the command and `audit`'s query."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        from iac_mcp.sandbox.serve import main as sandbox_main

        return sandbox_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from iac_mcp.demo import run_demo

        return run_demo(job_duration=args.job_duration, promote=args.promote)
    try:
        settings = load_settings({k: v for k, v in vars(args).items() if k not in COMMAND_ONLY})
        configure_logging(settings.log_level, settings.log_format)
        if args.command == "check":
            return check(settings)
        if args.command == "audit":
            return audit(settings, as_json=args.json, since=args.since, limit=args.limit)
        return serve(settings)
    except ConfigurationError as error:
        print(f"iac-mcp: {error}", file=sys.stderr)
        return 2


# --- Commands ------------------------------------------------------------------------


def approvers_can_sign_in(settings: Settings, upstreams: Sequence[OrgUpstream]) -> None:
    """Refuse what would leave approval links nobody can use: a browser cannot reach the
    embedded sandbox (its host resolves nowhere) to sign in there."""
    needing = [u.profile.name for u in upstreams if u.profile.approval is not Approval.CONSENT]
    if settings.sandbox and needing:
        raise ConfigurationError(
            f"The embedded sandbox cannot sign approvers in (profile {', '.join(needing)} needs approvals): a browser "
            "cannot reach it. Next: run `iac-mcp sandbox` (its sign-in pages over HTTP) and point a profiles file at it "
            '(api_base = "http://127.0.0.1:8080", approval_client_id = "iac-mcp-sandbox-signin"), or use '
            f"{ENVIRONMENT_VARIABLES['approval']}=consent with --sandbox."
        )


def serve(settings: Settings) -> int:
    """Build the server over the configured upstream and run the configured transport."""
    from iac_mcp import telemetry
    from iac_mcp.upstream import open_ledger, open_upstream

    if settings.transport == "http":
        from iac_mcp.transports.http import serve_http

        approvers_can_sign_in(settings, open_upstream(settings))  # configuration errors surface before uvicorn starts
        return serve_http(settings, http_app)
    from iac_mcp.server.app import approval_desk, build_server
    from iac_mcp.transports.approval_pages import loopback_listener

    telemetry.configure()
    key = settings.plan_signing_key()
    desk = approval_desk(settings, key, loopback_listener(settings.approval_port))
    upstreams = open_upstream(settings)
    approvers_can_sign_in(settings, upstreams)
    server = build_server(upstreams, settings, ledger=open_ledger(settings), signing_key=key, desk=desk, open_while_serving=True)
    log.info("Serving MCP over stdio in %s mode", settings.mode)
    server.run("stdio")
    return 0


def http_app(settings: Settings) -> Starlette:
    """The HTTP app for these settings; what every uvicorn worker builds."""
    from iac_mcp import telemetry
    from iac_mcp.transports.http import create_app
    from iac_mcp.upstream import open_ledger, open_upstream

    configure_logging(settings.log_level, settings.log_format)
    telemetry.configure()  # in each worker process: exporters do not survive a fork
    log.debug("Building the HTTP app: %s mode, consent policy %s", settings.mode, settings.consent)
    return create_app(open_upstream(settings), settings, ledger=open_ledger(settings))


def http_app_from_env() -> Starlette:
    """uvicorn factory (`uvicorn --factory iac_mcp.startup:http_app_from_env`), configured by
    the environment alone. Invalid settings stop uvicorn with the same message as the CLI."""
    return http_app(load_settings())


def check(settings: Settings) -> int:
    """Validate, then for every profile log in, read one page of the catalogue and report;
    never print a secret. Exit 1 when any org fails."""
    from iac_mcp.ledger import display_url
    from iac_mcp.logic.redaction import mask_values
    from iac_mcp.upstream import database_url, ledger_at, open_upstream

    upstreams = open_upstream(settings)
    print(f"{'mode':>15}: {settings.mode.value}")
    print(f"{'consent policy':>15}: {settings.consent.value}")
    print(f"{'ledger':>15}: {display_url(database_url(settings))}")

    async def probe(upstream: OrgUpstream) -> tuple[int, dict[str, str]]:
        profile = upstream.profile
        report = {"profile": f"{profile.name} ({profile.label})", "org mode": profile.mode.value}
        async with upstream.connect() as client:
            report["api base"] = "embedded sandbox" if settings.sandbox else client.config.api_base
            try:
                page = await client.list_accelerators(page_size=1)
            except PermissionDeniedError as error:
                report["result"] = f"the OAuth client lacks a permission: {', '.join(error.missing_permissions) or 'unknown'}"
                return 1, report
            except GenesysError as error:
                report["result"] = mask_values(str(error), client.credentials())
                return 1, report
            lifetime = client.auth.token_lifetime
            report["token lifetime"] = f"{lifetime:.0f} s" if lifetime is not None else "unknown (a ready token)"
            report["catalogue"] = f"{page.total if page.total is not None else len(page.entities)} accelerator(s)"
            report["result"] = "ok"
            return 0, report

    async def probe_all() -> list[tuple[int, dict[str, str]]]:
        async with ledger_at(database_url(settings)):  # an unusable ledger exits 2
            return [await probe(upstream) for upstream in upstreams]

    results = anyio.run(probe_all)
    for _, report in results:
        for key, value in report.items():
            print(f"{key:>15}: {value}")
    return max(code for code, _ in results)


def audit(settings: Settings, *, as_json: bool, since: datetime | None, limit: int) -> int:
    """Print the audit trail, newest first."""
    from iac_mcp.upstream import database_url, ledger_at

    async def read() -> list[Any]:
        async with ledger_at(database_url(settings)) as book:
            return list(await book.recent_audit(since=since, limit=limit))

    for record in anyio.run(read):
        data = record.to_json()
        if as_json:
            print(json.dumps(data, ensure_ascii=False))
        else:
            run = "dry run" if data["dry_run"] else "REAL RUN"
            print(
                f"{data['at']} {data['kind']:<8} {run:<8} {data['accelerator_id']} by {data['principal']} "
                f"consent={data['consent']} job={data['job_id'] or '-'} status={data['status'] or '-'}"
                + (f" note={data['note']}" if data["note"] else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
