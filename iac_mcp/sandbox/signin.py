"""Signing people in: `/oauth/authorize` shows a login form, and codes are exchanged with PKCE.

As a Genesys login host does for an OAuth client with the Code grant: `GET /oauth/authorize`
(`response_type=code`, `client_id`, `redirect_uri`, `state`, `code_challenge`,
`code_challenge_method=S256`; plain or absent PKCE is refused) shows a plain HTML form; its
post checks a sandbox user of the client's org and redirects to
`redirect_uri?code=...&state=...`. A code is single use, lives `code_lifetime` seconds on the
sandbox clock and is bound to the client, the redirect URI and the challenge; any
presentation uses it up, and a code presented again revokes the token it bought.

Redirect URIs: Genesys redirects only to URIs registered on the OAuth client. The sandbox
has no registration, so it accepts exactly two classes: loopback `http://127.0.0.1[:port]/...`
or `http://localhost[:port]/...`, and `https://` URIs. Anything else, an unknown client or a
repeated parameter gets an error page and is never redirected to; other errors go back to
the redirect URI as `error=...&state=...` (RFC 6749 4.1.2.1).

The form is CSRF-safe twice over: it carries a one-time form token, and the token is bound
to a `SameSite=Strict` cookie of the browser it was shown to. The password is never
written back into a page, and nothing here is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from iac_mcp.sandbox.checks import read_body, sandbox
from iac_mcp.sandbox.settings import SandboxOrg
from iac_mcp.sandbox.state import AuthCode, LoginForm, SandboxState, SignInRequest

AUTHORIZE_PATH = "/oauth/authorize"
COOKIE = "iac_sandbox_signin"
FORM_LIFETIME = 600.0
"""Seconds a shown form can be posted, on the sandbox clock."""
PKCE_METHOD = "S256"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
BAD_CREDENTIALS = "The username or password is incorrect."
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
"""An S256 challenge: base64url of a SHA-256 digest, unpadded."""
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")
_SINGLE = ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE_HEADERS = {
    **_NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:1rem;background:#f4f5f7;color:#111}"
    "main{max-width:26rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:.5rem}"
    "label{display:block;margin-top:1rem;font-weight:600}"
    "input{display:block;width:100%;box-sizing:border-box;font-size:1rem;padding:.6rem;margin-top:.3rem}"
    "button{margin-top:1.5rem;width:100%;font-size:1rem;padding:.7rem;background:#1a4f9c;color:#fff;border:0;border-radius:.3rem}"
    "[role=alert]{color:#8a1010;font-weight:600}code{overflow-wrap:anywhere}"
)


class PageError(Exception):
    """A request the sandbox must not redirect anywhere: answered with an error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RedirectError(Exception):
    """An OAuth error to send back to a checked redirect URI."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri, self.state, self.error, self.description = redirect_uri, state, error, description


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def allowed_redirect(uri: str) -> bool:
    """A loopback http URI or an https URI, without user info or fragment (see the module docstring)."""
    if len(uri) > 2000 or any(c.isspace() or ord(c) < 0x20 for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    if parts.fragment or "#" in uri or parts.username is not None or parts.password is not None or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """`uri` with `params` (None ones left out) added to its query."""
    parts = urlsplit(uri)
    added = urlencode({k: v for k, v in params.items() if v is not None})
    return urlunsplit(parts._replace(query=f"{parts.query}&{added}" if parts.query else added))


def checked_request(state: SandboxState, query: Mapping[str, str], repeated: set[str]) -> SignInRequest:
    """The authorization request, or PageError / RedirectError saying what is wrong."""
    if repeated:
        raise PageError(400, f"The parameter {sorted(repeated)[0]} is given more than once.")
    client_id = query.get("client_id", "")
    org = state.org_of_client(client_id)
    if org is None:
        raise PageError(400, "Unknown client_id: this sandbox has no OAuth client with that id. Check the client id.")
    redirect_uri = query.get("redirect_uri", "")
    if not allowed_redirect(redirect_uri):
        raise PageError(
            400,
            "The redirect_uri is missing or not allowed: the sandbox redirects only to http://127.0.0.1:PORT/..., "
            "http://localhost:PORT/... or https://... URIs without a fragment.",
        )
    given_state = query.get("state")

    def refuse(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, given_state, error, description)

    if query.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code")
    if query.get("code_challenge_method") != PKCE_METHOD:
        raise refuse("invalid_request", "PKCE is required: code_challenge_method must be S256 (plain is refused)")
    challenge = query.get("code_challenge", "")
    if not _CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
    return SignInRequest(org, client_id, redirect_uri, given_state, challenge)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_PAGE_HEADERS)


def error_page(error: PageError) -> HTMLResponse:
    return _page("Sign-in error", f'<h1>Sign-in error</h1><p role="alert">{html.escape(str(error))}</p>', error.status)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def form_page(request: Request, state: SandboxState, signin: SignInRequest, *, username: str = "", error: str = "") -> Response:
    """A login form with a new one-time token, bound to this browser's cookie. Never holds a password."""
    now = state.now()
    for token in [t for t, f in state.login_forms.items() if f.expires <= now]:
        del state.login_forms[token]
    known = request.cookies.get(COOKIE, "")
    browser = known if _NONCE.fullmatch(known) else secrets.token_urlsafe(32)
    form_token = secrets.token_urlsafe(32)
    state.login_forms[form_token] = LoginForm(signin, browser, now + FORM_LIFETIME)
    org = signin.org.name
    alert = f'<p role="alert" id="signin-error">{html.escape(error)}</p>' if error else ""
    described = ' aria-describedby="signin-error" aria-invalid="true"' if error else ""
    body = (
        f"<h1>Sign in</h1><p>Genesys Cloud sandbox, org <strong>{html.escape(org)}</strong>, for the application "
        f"<code>{html.escape(signin.client_id)}</code>. After signing in you return to "
        f"<code>{html.escape(_origin(signin.redirect_uri))}</code>.</p>{alert}"
        f'<form method="post" action="{AUTHORIZE_PATH}">'
        f'<input type="hidden" name="form_token" value="{form_token}">'
        '<label for="username">Username</label>'
        f'<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" '
        f'spellcheck="false" required maxlength="100" value="{html.escape(username[:100], quote=True)}"{described}>'
        '<label for="password">Password</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" required{described}>'
        '<button type="submit">Sign in</button></form>'
    )
    response = _page(f"Sign in to the sandbox org {org}", body)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, browser, max_age=int(FORM_LIFETIME), path=AUTHORIZE_PATH, httponly=True, samesite="strict", secure=secure
    )
    return response


def redirect(uri: str, params: Mapping[str, str | None]) -> RedirectResponse:
    """A 303 to the client's redirect URI (after a POST, the browser follows with a GET)."""
    return RedirectResponse(with_query(uri, params), status_code=303, headers=_PAGE_HEADERS)


async def authorize_form(request: Request) -> Response:
    """`GET /oauth/authorize`: check the request, then show the login form."""
    state = sandbox(request)
    query = request.query_params
    repeated = {name for name in _SINGLE if len(query.getlist(name)) > 1}
    try:
        signin = checked_request(state, query, repeated)
    except PageError as error:
        return error_page(error)
    except RedirectError as error:
        return redirect(error.redirect_uri, {"error": error.error, "error_description": error.description, "state": error.state})
    return form_page(request, state, signin)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def authorize_submit(request: Request) -> Response:
    """`POST /oauth/authorize`: the form's token and cookie, then the user; a code on success."""
    state = sandbox(request)
    await read_body(request)
    form = await request.form()
    pending = state.login_forms.pop(_text(form, "form_token"), None)
    if pending is None or pending.expires <= state.now():
        return error_page(PageError(400, "This sign-in form has expired or was already used. Start the sign-in again."))
    if not hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), pending.browser.encode()):
        return error_page(
            PageError(403, "This form was not posted from the page shown to this browser (are cookies blocked?). Start again.")
        )
    username = _text(form, "username").strip()
    user = state.user(pending.request.org, username, _text(form, "password"))
    if user is None:
        return form_page(request, state, pending.request, username=username, error=BAD_CREDENTIALS)
    code = secrets.token_urlsafe(32)
    state.codes[code] = AuthCode(pending.request, user, state.now() + state.settings.code_lifetime)
    return redirect(pending.request.redirect_uri, {"code": code, "state": pending.request.state})


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    """An OAuth error answer of the token endpoint."""
    body = {"error": error, "description": description, "error_description": description}
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def token_answer(state: SandboxState, token: str) -> JSONResponse:
    body = {"access_token": token, "token_type": "bearer", "expires_in": int(state.settings.token_lifetime)}
    return JSONResponse(body, headers=_NO_STORE)


def exchange(state: SandboxState, client_id: str, form: FormData) -> JSONResponse:
    """The authorization-code grant for an authenticated client: every check fails with invalid_grant."""
    code, redirect_uri, verifier = (_text(form, n) for n in ("code", "redirect_uri", "code_verifier"))
    missing = [n for n, v in (("code", code), ("redirect_uri", redirect_uri), ("code_verifier", verifier)) if not v]
    if missing:
        return oauth_error(400, "invalid_request", f"missing {', '.join(missing)} (the code grant needs PKCE)")
    record = state.codes.pop(code, None)
    if record is None:
        if code in state.redeemed:
            bought = state.redeemed[code]
            if bought is not None:
                state.tokens.pop(bought, None)
            return oauth_error(400, "invalid_grant", "the authorization code was already used; its token is revoked")
        return oauth_error(400, "invalid_grant", "the authorization code is not valid")
    state.redeemed[code] = None
    problem = _code_problem(state, record, client_id, redirect_uri, verifier)
    if problem is not None:
        return oauth_error(400, "invalid_grant", problem)
    token = state.issue_token(record.request.org, record.user)
    state.redeemed[code] = token
    return token_answer(state, token)


def _code_problem(state: SandboxState, record: AuthCode, client_id: str, redirect_uri: str, verifier: str) -> str | None:
    if state.now() >= record.expires:
        return "the authorization code has expired"
    if record.request.client_id != client_id:
        return "the authorization code was issued to another client"
    if record.request.redirect_uri != redirect_uri:
        return "redirect_uri does not match the one of the authorization request"
    if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), record.request.code_challenge):
        return "code_verifier does not match the code_challenge"
    return None


def public_client(state: SandboxState, client_id: str) -> SandboxOrg | None:
    """The org whose public sign-in client `client_id` is (it authenticates with no secret)."""
    return next((o for o in state.settings.served_orgs if o.signin_client_id == client_id), None)
