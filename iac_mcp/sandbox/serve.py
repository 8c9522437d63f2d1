"""Running the sandbox: in a background thread for tests and benchmarks, or from the CLI.

`running_sandbox` binds its own socket on 127.0.0.1 port 0, so the port is known before
uvicorn starts and parallel test runs never collide. Logs go to stderr and never carry
the client secret or tokens (uvicorn's access log is off: it would print query strings
only, but there is nothing to gain from it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_NAME,
    HISTORY_SHAPES,
    SIGNIN_SUFFIX,
    VALIDATE_AT,
    SandboxOrg,
    SandboxSettings,
    SandboxUser,
)

logger = logging.getLogger("iac_mcp.sandbox")
HOST = "127.0.0.1"


class _QuickServer(uvicorn.Server):
    """uvicorn polls for shutdown every 100 ms; tests start hundreds of sandboxes, so poll every 5 ms."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            await asyncio.sleep(0.005)


@contextmanager
def serve_in_thread(app: ASGIApp, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """Serve any ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yield its base URL.

    Tests and benchmarks run the sandbox and the MCP HTTP app this way: real sockets, real
    HTTP, no subprocess to manage.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it small answers wait ~40 ms for delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan, timeout_graceful_shutdown=1)
    server = _QuickServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server failed to start")
            thread.join(0.005)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def running_sandbox(settings: SandboxSettings | None = None, *, app: Starlette | None = None) -> Iterator[str]:
    """Serve `app` (or a new sandbox from `settings`) on a free port; yield its base URL.

    Pass `app` to keep a handle on `app.state.sandbox` while it serves.
    """
    with serve_in_thread(app if app is not None else create_app(settings)) as url:
        yield url


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="iac-mcp sandbox",
        description="Run the embedded Genesys Cloud IaC API sandbox: OAuth (client credentials, and a sign-in form "
        "with PKCE codes), the five IaC routes, integrations, users/me and subjects/me, for one or several orgs.",
    )
    p.add_argument("--host", default=HOST, help="interface to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default %(default)s)")
    p.add_argument(
        "--catalog",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="directory of accelerator *.json specs to add (repeatable)",
    )
    p.add_argument(
        "--client-id", default=None, help=f"OAuth client id of the one org without --org (default {DEFAULT_CLIENT_ID})"
    )
    p.add_argument(
        "--client-secret", default=None, help="OAuth client secret of the one org without --org (default: the documented one)"
    )
    p.add_argument(
        "--org",
        type=org_spec,
        action="append",
        default=[],
        dest="orgs",
        metavar="NAME:CLIENT_ID:CLIENT_SECRET",
        help="serve an org, told apart by its OAuth client (repeatable; the first is the default org). Its public "
        f"sign-in client is CLIENT_ID{SIGNIN_SUFFIX}. Default: one org '{DEFAULT_ORG_NAME}' with --client-id/--client-secret",
    )
    p.add_argument(
        "--user",
        type=user_spec,
        action="append",
        default=[],
        dest="users",
        metavar="[ORG/]NAME:PASSWORD[:PERM,...]",
        help="a user who can sign in at /oauth/authorize (repeatable), in ORG (default the first org), holding exactly "
        "the permissions listed (none if omitted). Default: in every org alice/alice-sandbox and bob/bob-sandbox "
        "(infrastructureascode:job:add and the view permissions) and eve/eve-sandbox (view permissions only)",
    )
    p.add_argument(
        "--job-duration",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="simulated seconds from Created to a terminal status (default %(default)s)",
    )
    p.add_argument(
        "--token-lifetime", type=float, default=86400, metavar="S", help="token lifetime in seconds (default %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for job ids and random faults (default %(default)s)")
    p.add_argument(
        "--history-shape",
        choices=HISTORY_SHAPES,
        default="listing",
        help="how GET /jobs answers: an entity listing, the latest job alone, or a bare array (default %(default)s)",
    )
    p.add_argument(
        "--client-permissions",
        type=_permissions,
        default=None,
        metavar="PERM[,PERM...]",
        help="the OAuth client's permissions (default: every permission); include the "
        "infrastructureascode:* ones the routes need. A job whose spec needs another fails with a 403",
    )
    p.add_argument(
        "--validate-at",
        choices=VALIDATE_AT,
        default="post",
        help="post: bad parameters answer 400; plan: the job is accepted and fails in plan (default %(default)s)",
    )
    p.add_argument("--colour", action="store_true", help="colour job results with ANSI escapes, like a terminal")
    return p


def _permissions(value: str) -> frozenset[str]:
    return frozenset(p.strip() for p in value.split(",") if p.strip())


def org_spec(value: str) -> SandboxOrg:
    """`NAME:CLIENT_ID:CLIENT_SECRET` (the secret may hold ':'). Errors never quote the secret."""
    name, _, rest = value.partition(":")
    client_id, _, secret = rest.partition(":")
    if not (name and client_id and secret):
        shown = f" for org {name[:63]!r}" if name else ""
        raise argparse.ArgumentTypeError(f"expected NAME:CLIENT_ID:CLIENT_SECRET{shown}, all three non-empty")
    try:
        return SandboxOrg(name, client_id, secret)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def user_spec(value: str) -> SandboxUser:
    """`[ORG/]NAME:PASSWORD[:PERM,...]` (the password cannot hold ':'). Errors never quote the password."""
    who, _, rest = value.partition(":")
    password, _, permissions = rest.partition(":")
    org, _, username = who.rpartition("/")
    if not (username and password):
        raise argparse.ArgumentTypeError("expected [ORG/]NAME:PASSWORD[:PERM,...] with a name and a password")
    try:
        return SandboxUser(username, password, _permissions(permissions), org=org)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (`iac-mcp sandbox ...`); blocks until interrupted."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.orgs and (args.client_id is not None or args.client_secret is not None):
        cli.error("--client-id/--client-secret are the client of the one org without --org: give each org's in its --org")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
    except ValueError as exc:
        cli.error(str(exc))
    app = create_app(settings)
    logger.info(
        "sandbox on http://%s:%d: %d accelerators, history as %s, validation at %s",
        args.host,
        args.port,
        len(app.state.sandbox.catalog),
        settings.history_shape,
        settings.validate_at,
    )
    for org in settings.served_orgs:
        users = ", ".join(u.username for u in settings.served_users if u.org == org.name) or "none"
        logger.info("org %s: client id %r, sign-in client id %r, users %s", org.name, org.client_id, org.signin_client_id, users)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


def _settings(args: argparse.Namespace) -> SandboxSettings:
    return SandboxSettings(
        client_id=args.client_id or DEFAULT_CLIENT_ID,
        client_secret=args.client_secret or DEFAULT_CLIENT_SECRET,
        orgs=list(args.orgs),
        users=list(args.users),
        token_lifetime=args.token_lifetime,
        job_duration=args.job_duration,
        catalog_dirs=list(args.catalog),
        seed=args.seed,
        client_permissions=args.client_permissions,
        history_shape=args.history_shape,
        validate_at=args.validate_at,
        ansi_colour=args.colour,
    )
