"""The approval page: review a real run, sign in with Genesys, approve or reject it.

Plain HTML (no script, no framework), readable on a phone, served under `/approvals` by the
HTTP transport, or for stdio by a loopback listener started the first time a link is
needed (`--approval-port`, default a free port).

    GET  /approvals/{id}           the plan: org, accelerator, masked parameters, counts,
                                   resources, who asked, expiry, decisions so far
    GET  /approvals/{id}/sign-in   off to the org's login host (Authorization Code + PKCE S256)
    GET  /approvals/callback       back from it: the code is exchanged, users/me and
                                   subjects/me are read, the token is dropped
    POST /approvals/{id}/decision  Approve or Reject

State travels in two signed cookies (HMAC-SHA256 under a key derived from the server's
signing key, so any replica can read them): the sign-in in progress (`state`; the PKCE
verifier is derived from it on the server and never sent to the browser), then who signed
in (ten minutes, for one approval). Both are HttpOnly and SameSite=Lax (the login host
sends the browser back with a cross-site navigation, which Strict cookies would miss).
A decision needs a form token bound to the sign-in cookie, and an Origin, when sent, of
this page: a forged or replayed post records nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import re
import secrets
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio
from anyio.abc import TaskStatus
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from iac_mcp.logic.approvals import (
    APPROVE_PERMISSION,
    FOUR_EYES,
    ApprovalRequest,
    Approver,
    Decision,
    SignedIn,
    Status,
    Verdict,
)
from iac_mcp.logic.text import capped, plain
from iac_mcp.server.approvals import APPROVALS_PATH, CALLBACK_PATH, ApprovalDesk, ApprovalRefused, PagesListener

SIGNIN_COOKIE = "iac_approval_signin"
SESSION_COOKIE = "iac_approval_session"
SIGNIN_SECONDS = 600
SESSION_SECONDS = 600
MAX_FORM_BYTES = 4096
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_STATE = re.compile(r"[A-Za-z0-9_-]{43}")
_CODE = re.compile(r"[\x21-\x7e]{1,2048}")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_HEADERS = {
    **_NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""`same-origin`: the approval link never leaks to the login host in a Referer, and browsers still
send our own Origin with the decision (under `no-referrer` they send `Origin: null`)."""
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:1rem;background:#f4f5f7;color:#111;line-height:1.4}"
    "main{max-width:40rem;margin:1rem auto;background:#fff;padding:1.25rem;border-radius:.5rem}"
    "h1{font-size:1.4rem;margin-top:0}h2{font-size:1.1rem;margin-top:1.5rem}"
    "dl{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}"
    "code,dd,li,td{overflow-wrap:anywhere}table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;border-bottom:1px solid #ddd;padding:.3rem}"
    ".status{padding:.7rem;border-radius:.3rem;font-weight:600;background:#eef3fb}"
    ".approved{background:#e3f4e6}.rejected,.expired,[role=alert]{background:#fbe9e9;color:#6d0b0b}"
    "[role=alert]{padding:.7rem;border-radius:.3rem;font-weight:600}"
    ".actions{display:flex;gap:1rem;flex-wrap:wrap;margin-top:1rem}"
    "button,.button{font-size:1rem;padding:.7rem 1.2rem;border:0;border-radius:.3rem;color:#fff;background:#1a4f9c;"
    "text-decoration:none;display:inline-block}button.reject{background:#8a1010}"
)


# --- Signed cookies -------------------------------------------------------------------------


def seal(key: bytes, purpose: str, payload: dict[str, Any]) -> str:
    """`payload` as base64url JSON with an HMAC over purpose and body (readable, not forgeable)."""
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    mac = hmac.new(key, f"{purpose}|{body}".encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unseal(key: bytes, purpose: str, value: str | None, now: float) -> dict[str, Any] | None:
    """The payload of an authentic, unexpired (`e`) cookie of this purpose; else None."""
    if not value or len(value) > 4096 or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = hmac.new(key, f"{purpose}|{body}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    expiry = payload.get("e") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or isinstance(expiry, bool) or not isinstance(expiry, (int, float)) or now >= expiry:
        return None
    return {str(k): v for k, v in payload.items()}


def form_token(key: bytes, session_cookie: str) -> str:
    """The decision form's token, bound to the sign-in cookie of the browser it was shown to."""
    return hmac.new(key, f"decision|{session_cookie}".encode(), hashlib.sha256).hexdigest()


def _signed_in(desk: ApprovalDesk, request: Request, approval_id: str) -> tuple[SignedIn, str] | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    payload = unseal(desk.page_key, SESSION_COOKIE, cookie, desk.clock())
    if payload is None or payload.get("a") != approval_id or cookie is None:
        return None
    who = SignedIn(Approver(str(payload["u"]), str(payload["n"])), str(payload["o"]), payload["m"] is True)
    return who, cookie


# --- Rendering ------------------------------------------------------------------------------


def _text(value: object, limit: int = 300) -> str:
    """Untrusted text, cleaned of escapes and invisible characters, capped and HTML-escaped."""
    return html.escape(capped(plain(str(value), newlines=False), limit))


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=_HEADERS)


def _message(title: str, text: str, status_code: int) -> HTMLResponse:
    return _page(title, f'<h1>{html.escape(title)}</h1><p role="alert">{html.escape(text)}</p>', status_code)


_STATE_WORDS = {
    "approved": "Approved: the requester may now run it (submit-job again with the same plan_token).",
    "pending": "",
    "rejected": "Rejected: this plan will not be applied.",
    "expired": "Expired with its plan: nothing can be approved any more.",
}


def render(
    request: ApprovalRequest,
    decisions: Sequence[Decision],
    current: Status,
    *,
    signed_in: SignedIn | None,
    token: str | None,
    notice: str | None = None,
    alert: str | None = None,
) -> str:
    """The page's body: the plan as recorded, the state, and what the visitor can do."""
    aid = html.escape(request.approval_id)
    policy = (
        "four-eyes: approved by someone other than the requester (two different people when the requester is unknown)"
        if request.policy == FOUR_EYES
        else "signed: approved by a signed-in user"
    )
    resources = "".join(f"<li>{_text(action, 20)}: <code>{_text(address)}</code></li>" for action, address in request.resources)
    parameters = "".join(f"<tr><th scope=row>{_text(k, 80)}</th><td>{_text(v)}</td></tr>" for k, v in request.parameters.items())
    decided = "".join(f"<li>{_text(d.verdict, 10)} by {_text(d.approver.describe())} at {_when(d.at)}</li>" for d in decisions)
    parts = [
        f"<h1>Approve a real run in {_text(request.org_label, 100)}</h1>",
        f'<p class="status {current.state}" role="status">{html.escape(_STATE_WORDS[current.state])} '
        f"{_text(current.reason[0].upper() + current.reason[1:], 400)}.</p>".replace("> ", ">", 1),
    ]
    if notice:
        parts.append(f'<p class="status approved" role="status">{html.escape(notice)}</p>')
    if alert:
        parts.append(f'<p role="alert">{html.escape(alert)}</p>')
    parts += [
        "<dl>",
        f"<dt>Org</dt><dd>{_text(request.org_label, 100)} (profile <code>{_text(request.profile, 64)}</code>, "
        f"<code>{_text(request.api_base, 200)}</code>)</dd>",
        f"<dt>Accelerator</dt><dd>{_text(request.accelerator_name, 200)} "
        f"(<code>{_text(request.accelerator_id, 200)}</code>)</dd>",
        f"<dt>Plan</dt><dd>{request.to_add} to add, {request.to_change} to change, {request.to_destroy} to destroy "
        f"(dry-run job <code>{_text(request.plan_job_id, 200)}</code>)</dd>",
        f"<dt>Asked by</dt><dd>{_text(request.requester, 200)} at {_when(request.created_at)}</dd>",
        f"<dt>Expires</dt><dd>{_when(request.expires_at)}</dd>",
        f"<dt>Policy</dt><dd>{html.escape(policy)}</dd>",
        "</dl>",
        f"<h2>Resources ({len(request.resources)})</h2><ul>{resources or '<li>none</li>'}</ul>",
        f"<h2>Parameters ({len(request.parameters)})</h2><p>Sensitive values are masked.</p><table>{parameters}</table>",
        f"<h2>Decisions</h2><ul>{decided or '<li>none yet</li>'}</ul>",
    ]
    if current.state in ("pending", "approved") and signed_in is None:
        parts.append(
            f'<div class="actions"><a class="button" href="{APPROVALS_PATH}/{aid}/sign-in">'
            "Sign in with Genesys to decide</a></div>"
            f"<p>Only people who hold <code>{APPROVE_PERMISSION}</code> in this org can approve or reject.</p>"
        )
    elif signed_in is not None:
        parts.append(f"<p>Signed in as <strong>{_text(signed_in.approver.describe())}</strong>.</p>")
        if not signed_in.may_approve:
            parts.append(
                f'<p role="alert">You do not hold {APPROVE_PERMISSION} in this org, so you cannot approve or reject '
                "its real runs.</p>"
            )
        elif any(d.approver.id == signed_in.approver.id for d in decisions):
            parts.append("<p>Your decision on this run is recorded: each person decides once.</p>")
        elif current.state == "pending" and token is not None:
            parts.append(
                f'<form method="post" action="{APPROVALS_PATH}/{aid}/decision" class="actions">'
                f'<input type="hidden" name="form_token" value="{token}">'
                '<button type="submit" name="verdict" value="approved">Approve</button>'
                '<button type="submit" name="verdict" value="rejected" class="reject">Reject</button></form>'
            )
    return "".join(parts)


# --- Routes ---------------------------------------------------------------------------------


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _callback(request: Request) -> str:
    return _base(request) + CALLBACK_PATH


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, path=APPROVALS_PATH, httponly=True, samesite="lax", secure=secure)


async def _found(desk: ApprovalDesk, approval_id: str) -> tuple[ApprovalRequest, list[Decision], Status] | Response:
    if not _ID.fullmatch(approval_id):
        return _message("No such approval", "This approval link is not valid: ask the requester for the link again.", 404)
    try:
        found = await desk.lookup(approval_id)
    except ApprovalRefused as error:
        return _message("Approvals unavailable", str(error), 503)
    if found is None:
        return _message("No such approval", "This server has no approval with this link: ask the requester for it again.", 404)
    return found


def approval_routes(desk: ApprovalDesk) -> list[BaseRoute]:
    """The page's routes, for the HTTP app or the loopback listener."""

    async def show(request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        found = await _found(desk, approval_id)
        if isinstance(found, Response):
            return found
        approval, decisions, current = found
        who = _signed_in(desk, request, approval_id)
        token = form_token(desk.page_key, who[1]) if who else None
        notice = request.query_params.get("decided")
        words = {"approved": "Your approval is recorded.", "rejected": "Your rejection is recorded."}.get(notice or "")
        body = render(approval, decisions, current, signed_in=who[0] if who else None, token=token, notice=words)
        return _page(f"Approval for {approval.profile}", body)

    async def sign_in(request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        found = await _found(desk, approval_id)
        if isinstance(found, Response):
            return found
        approval, _, current = found
        if current.state not in ("pending", "approved"):
            return _message("Nothing to decide", f"This run is {current.state}: {current.reason}.", 409)
        state = secrets.token_urlsafe(32)
        try:
            target = desk.sign_in_url(approval, redirect_uri=_callback(request), state=state)
        except ApprovalRefused as error:
            return _message("Sign-in unavailable", str(error), 409)
        response = RedirectResponse(target, status_code=303, headers=_HEADERS)
        cookie = seal(desk.page_key, SIGNIN_COOKIE, {"a": approval_id, "s": state, "e": desk.clock() + SIGNIN_SECONDS})
        _cookie(response, request, SIGNIN_COOKIE, cookie, SIGNIN_SECONDS)
        return response

    async def callback(request: Request) -> Response:
        query = request.query_params
        pending = unseal(desk.page_key, SIGNIN_COOKIE, request.cookies.get(SIGNIN_COOKIE), desk.clock())
        state, code = query.get("state", ""), query.get("code", "")
        if pending is None or not _STATE.fullmatch(state) or not hmac.compare_digest(str(pending.get("s")), state):
            return _message(
                "Sign-in not recognised",
                "This sign-in was not started in this browser, has expired (ten minutes) or was already used. "
                "Open the approval link again and sign in from there.",
                400,
            )
        approval_id = str(pending["a"])
        if "error" in query or not _CODE.fullmatch(code):
            reason = _text(query.get("error_description") or query.get("error") or "no code", 200)
            return _message(
                "Sign-in failed", f"Genesys did not sign you in ({reason}). Open the approval link and try again.", 400
            )
        found = await _found(desk, approval_id)
        if isinstance(found, Response):
            return found
        try:
            who = await desk.sign_in(found[0], code=code, state=state, redirect_uri=_callback(request))
        except ApprovalRefused as error:
            return _message("Sign-in failed", str(error), 400)
        response = RedirectResponse(f"{APPROVALS_PATH}/{approval_id}", status_code=303, headers=_HEADERS)
        session = {
            "a": approval_id,
            "o": who.org,
            "u": who.approver.id,
            "n": who.approver.name,
            "m": who.may_approve,
            "k": secrets.token_urlsafe(16),
            "e": desk.clock() + SESSION_SECONDS,
        }
        _cookie(response, request, SESSION_COOKIE, seal(desk.page_key, SESSION_COOKIE, session), SESSION_SECONDS)
        response.delete_cookie(SIGNIN_COOKIE, path=APPROVALS_PATH)
        return response

    async def decide(request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        origin = request.headers.get("origin")
        if origin is not None and origin != _base(request):
            return _message("Refused", "This form was posted from another site: nothing was recorded.", 403)
        body = await _bounded_body(request)
        if body is None:
            return _message("Refused", "The form is too large: nothing was recorded.", 413)
        fields = dict(_form_fields(body))
        found = await _found(desk, approval_id)
        if isinstance(found, Response):
            return found
        approval = found[0]
        who = _signed_in(desk, request, approval_id)
        if who is None:
            return _message("Sign in first", "Your sign-in has expired or is for another approval: sign in again.", 401)
        if not hmac.compare_digest(fields.get("form_token", ""), form_token(desk.page_key, who[1])):
            return _message("Refused", "This form was not the one shown to this browser: reload the page.", 403)
        verdict = fields.get("verdict", "")
        if verdict not in ("approved", "rejected"):
            return _message("Refused", "Choose Approve or Reject.", 400)
        chosen: Verdict = "approved" if verdict == "approved" else "rejected"
        try:
            await desk.decide(approval, who[0], chosen)
        except ApprovalRefused as error:
            found = await _found(desk, approval_id)
            if isinstance(found, Response):
                return found
            page = render(*found, signed_in=who[0], token=form_token(desk.page_key, who[1]), alert=str(error))
            return _page(f"Approval for {approval.profile}", page, 409)
        return RedirectResponse(f"{APPROVALS_PATH}/{approval_id}?decided={chosen}", status_code=303, headers=_HEADERS)

    return [
        Route(CALLBACK_PATH, callback, methods=["GET"]),
        Route(APPROVALS_PATH + "/{approval_id}", show, methods=["GET"]),
        Route(APPROVALS_PATH + "/{approval_id}/sign-in", sign_in, methods=["GET"]),
        Route(APPROVALS_PATH + "/{approval_id}/decision", decide, methods=["POST"]),
    ]


async def _bounded_body(request: Request) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return body


def _form_fields(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8", "replace"), max_num_fields=10)


# --- The loopback listener (stdio) ----------------------------------------------------------


class LoopbackHosts:
    """ASGI wrapper: only `127.0.0.1:<port>` and `localhost:<port>` as Host, against DNS rebinding."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self._app = app
        self._hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Headers(scope=scope).get("host") not in self._hosts:
            await Response("Invalid Host header", status_code=421)(scope, receive, send)
            return
        await self._app(scope, receive, send)


def loopback_listener(port: int = 0) -> PagesListener:
    """Serve the pages on 127.0.0.1:`port` (0: a free one) inside the server's own event loop."""

    async def listen(desk: ApprovalDesk, task_status: TaskStatus[str]) -> None:
        import uvicorn  # only once a link is needed: most stdio sessions never serve a page

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        bound = int(sock.getsockname()[1])
        app = LoopbackHosts(Starlette(routes=approval_routes(desk)), bound)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup(sockets=[sock])  # not serve(): that would take the process's signal handlers
            task_status.started(f"http://127.0.0.1:{bound}")
            await server.main_loop()
        finally:
            with anyio.CancelScope(shield=True):
                server.should_exit = True
                await server.shutdown(sockets=[sock])
                sock.close()

    return listen
