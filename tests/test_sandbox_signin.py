"""Signing in to the sandbox: the login form, PKCE codes, users/me and subjects/me, over real HTTP.

The redirect goes to a real loopback receiver (its own uvicorn), so httpx follows the whole
flow a browser would: fetch the form, post it, follow the 303 to the callback, exchange
the code.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import TLS, FakeClock
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from test_sandbox_orgs import ORDER_STATUS, order_values
from test_sandbox_platform import assert_genesys_error

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.orgs import GUID
from iac_mcp.sandbox.serve import running_sandbox, serve_in_thread
from iac_mcp.sandbox.settings import SandboxOrg, SandboxSettings, SandboxUser, named_orgs
from iac_mcp.sandbox.signin import BAD_CREDENTIALS

API = "/api/v2/infrastructureascode"
ME = "/api/v2/users/me"
SUBJECTS_ME = "/api/v2/authorization/subjects/me"
HOSTILE = '<script>alert("x")</script>&"'


class Callback(NamedTuple):
    """A loopback redirect receiver: its URL and every query it received."""

    url: str
    received: list[dict[str, str]]


class Box(NamedTuple):
    """A running sandbox, a redirect receiver and a plain client (no token, no cookies kept)."""

    url: str
    settings: SandboxSettings
    state: Any
    callback: Callback
    http: httpx.Client


def _receiver() -> tuple[Starlette, list[dict[str, str]]]:
    received: list[dict[str, str]] = []

    async def callback(request: Request) -> Response:
        received.append(dict(request.query_params))
        return PlainTextResponse("signed in")

    return Starlette(routes=[Route("/callback", callback)]), received


def start(stack: ExitStack, settings: SandboxSettings) -> Box:
    app = create_app(settings)
    url = stack.enter_context(running_sandbox(app=app))
    receiver, received = _receiver()
    callback_url = stack.enter_context(serve_in_thread(receiver)) + "/callback"
    http = stack.enter_context(httpx.Client(base_url=url, verify=TLS))
    return Box(url, settings, app.state.sandbox, Callback(callback_url, received), http)


@pytest.fixture
def box() -> Iterator[Box]:
    with ExitStack() as stack:
        yield start(stack, SandboxSettings(orgs=named_orgs(["dev", "prod"]), job_duration=0))


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(box: Box, challenge: str, *, org: str = "dev", **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": box.settings.org(org).signin_client_id,
        "redirect_uri": box.callback.url,
        "state": "state-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {k: v for k, v in params.items() if v is not None}


def form_token(page: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def post_login(browser: httpx.Client, page: httpx.Response, username: str, password: str) -> httpx.Response:
    data = {"form_token": form_token(page.text), "username": username, "password": password}
    return browser.post("/oauth/authorize", data=data)


def sign_in(box: Box, browser: httpx.Client, username: str = "alice", password: str = "alice-sandbox", **params: Any) -> str:
    """The browser's whole trip: form, credentials, redirect to the callback. Returns the code."""
    page = browser.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    landed = post_login(browser, page, username, password)
    assert landed.status_code == 200 and landed.text == "signed in", landed.text
    assert landed.history[0].status_code == 303
    query = box.callback.received[-1]
    assert query["state"] == params["state"]
    return query["code"]


def exchange(box: Box, code: str, verifier: str, /, *, org: str = "dev", **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": box.callback.url,
        "code_verifier": verifier,
        "client_id": box.settings.org(org).signin_client_id,
        **overrides,
    }
    return box.http.post("/oauth/token", data=data)


def user_token(box: Box, username: str = "alice", password: str = "alice-sandbox", org: str = "dev") -> str:
    verifier, challenge = pkce()
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        code = sign_in(box, browser, username, password, **authorize_params(box, challenge, org=org))
    answer = exchange(box, code, verifier, org=org)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- The whole flow ----------------------------------------------------------------------------


def test_the_full_pkce_flow_signs_alice_in(box: Box) -> None:
    verifier, challenge = pkce()
    params = authorize_params(box, challenge, state=HOSTILE)
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        code = sign_in(box, browser, **params)
    answer = exchange(box, code, verifier)
    body = answer.json()
    assert answer.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 86400
    assert answer.headers["cache-control"] == "no-store"
    me = box.http.get(f"{ME}", headers=bearer(body["access_token"])).json()
    assert GUID.fullmatch(me["id"]) and (me["username"], me["name"], me["state"]) == ("alice", "Alice Approver", "active")
    assert me["email"] == "alice@dev.sandbox.example"


def test_a_confidential_client_exchanges_with_basic_auth_and_not_without(box: Box) -> None:
    dev = box.settings.org("dev")
    verifier, challenge = pkce()
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        code = sign_in(box, browser, **authorize_params(box, challenge, client_id=dev.client_id))
        second = sign_in(box, browser, **authorize_params(box, challenge, client_id=dev.client_id))
    unauthenticated = exchange(box, second, verifier, client_id=dev.client_id)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": box.callback.url, "code_verifier": verifier}
    answer = box.http.post("/oauth/token", data=data, auth=(dev.client_id, dev.client_secret))
    assert answer.status_code == 200, answer.text


def test_subjects_me_lists_the_permissions_as_policies(box: Box) -> None:
    alice = box.http.get(f"{SUBJECTS_ME}", headers=bearer(user_token(box))).json()
    me = box.http.get(f"{ME}", headers=bearer(user_token(box))).json()
    assert alice["id"] == me["id"]
    [grant] = alice["grants"]
    assert grant["subjectId"] == me["id"] and grant["division"]["name"] == "Home" and GUID.fullmatch(grant["division"]["id"])
    policies = {(p["domain"], p["entityName"]): set(p["actions"]) for p in grant["role"]["policies"]}
    assert policies[("infrastructureascode", "job")] == {"add", "view"}
    assert policies[("integrations", "integration")] == {"view"}


def test_eve_signs_in_but_lacks_job_add_and_cannot_submit(box: Box) -> None:
    eve = user_token(box, "eve", "eve-sandbox")
    grants = box.http.get(f"{SUBJECTS_ME}", headers=bearer(eve)).json()["grants"]
    actions = {(p["domain"], p["entityName"], a) for g in grants for p in g["role"]["policies"] for a in p["actions"]}
    assert ("infrastructureascode", "job", "view") in actions and ("infrastructureascode", "job", "add") not in actions
    job = {"acceleratorId": ORDER_STATUS, "dryRun": True, "parameters": [{"name": "integration_id", "value": "x"}]}
    refused = box.http.post(f"{API}/jobs", json=job, headers=bearer(eve))
    body = assert_genesys_error(refused, 403, "missing.any.permissions")
    assert body["messageParams"] == {"permissions": "[infrastructureascode:job:add]"}
    assert box.http.get(f"{API}/jobs", headers=bearer(eve)).status_code == 200
    assert box.state.jobs_created == 0


def test_a_users_job_is_theirs_and_needs_the_specs_permissions_too(box: Box) -> None:
    alice = user_token(box)
    me = box.http.get(f"{ME}", headers=bearer(alice)).json()
    body = {
        "acceleratorId": ORDER_STATUS,
        "dryRun": True,
        "parameters": [{"name": k, "value": v} for k, v in order_values("placeholder").items()],
    }
    job = box.http.post(f"{API}/jobs", json=body, headers=bearer(alice)).json()
    read = box.http.get(f"{API}/jobs/{job['id']}", params={"details": "true"}, headers=bearer(alice)).json()
    assert job["submittedBy"]["id"] == me["id"]
    assert read["status"] == "Failed" and "integrations:action:add" in read["errorInfo"]["message"]


def test_a_client_credentials_token_has_no_user(box: Box) -> None:
    dev = box.settings.org("dev")
    token = box.http.post(
        "/oauth/token", auth=(dev.client_id, dev.client_secret), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    for path in (ME, SUBJECTS_ME):
        body = assert_genesys_error(box.http.get(path, headers=bearer(token)), 400, "bad.request")
        assert "requires a user context" in str(body["message"])


def test_a_public_client_cannot_use_client_credentials(box: Box) -> None:
    data = {"grant_type": "client_credentials", "client_id": box.settings.org("dev").signin_client_id}
    answer = box.http.post("/oauth/token", data=data)
    assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client"


def test_a_user_signs_in_only_to_their_own_org() -> None:
    carol = SandboxUser("carol", "carol-pw", frozenset({"infrastructureascode:job:add"}), org="prod")
    with ExitStack() as stack:
        box = start(stack, SandboxSettings(orgs=named_orgs(["dev", "prod"]), users=[carol]))
        assert box.http.get(f"{ME}", headers=bearer(user_token(box, "carol", "carol-pw", org="prod"))).status_code == 200
        _, challenge = pkce()
        with httpx.Client(base_url=box.url, verify=TLS) as browser:
            for org, user, password in (("dev", "carol", "carol-pw"), ("prod", "alice", "alice-sandbox")):
                page = browser.get("/oauth/authorize", params=authorize_params(box, challenge, org=org))
                assert BAD_CREDENTIALS in post_login(browser, page, user, password).text, (org, user)


# --- Codes: single use, short-lived, bound -----------------------------------------------------


def test_a_replayed_code_is_refused_and_revokes_its_token(box: Box) -> None:
    verifier, challenge = pkce()
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        code = sign_in(box, browser, **authorize_params(box, challenge))
    token = exchange(box, code, verifier).json()["access_token"]
    assert box.http.get(f"{ME}", headers=bearer(token)).status_code == 200
    replayed = exchange(box, code, verifier)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    assert_genesys_error(box.http.get(f"{ME}", headers=bearer(token)), 401, "bad.credentials")


def test_a_wrong_verifier_is_refused_and_uses_the_code_up(box: Box) -> None:
    verifier, challenge = pkce()
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        code = sign_in(box, browser, **authorize_params(box, challenge))
    wrong = exchange(box, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json() == {
        "error": "invalid_grant",
        "description": "code_verifier does not match the code_challenge",
        "error_description": "code_verifier does not match the code_challenge",
    }
    assert exchange(box, code, verifier).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"redirect_uri": "http://127.0.0.1:1/other"}, "redirect_uri"),
        ({"code_verifier": "short"}, "code_verifier"),
        ({"code_verifier": "the-challenge-itself"}, "code_verifier"),
    ],
)
def test_a_code_is_bound_to_its_redirect_and_challenge(box: Box, overrides: dict[str, str], problem: str) -> None:
    verifier, challenge = pkce()
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        code = sign_in(box, browser, **authorize_params(box, challenge))
    if overrides.get("code_verifier") == "the-challenge-itself":
        overrides = {"code_verifier": challenge}
    answer = exchange(box, code, verifier, **overrides)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant" and problem in answer.json()["description"]


def test_a_code_is_bound_to_its_client(box: Box) -> None:
    verifier, challenge = pkce()
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        code = sign_in(box, browser, **authorize_params(box, challenge))
    answer = exchange(box, code, verifier, org="prod")
    assert answer.json() == {
        "error": "invalid_grant",
        "description": "the authorization code was issued to another client",
        "error_description": "the authorization code was issued to another client",
    }


@pytest.mark.parametrize(("waited", "works"), [(59.0, True), (60.0, False)])
def test_a_code_lives_sixty_seconds_on_the_sandbox_clock(fake_clock: FakeClock, waited: float, works: bool) -> None:
    with ExitStack() as stack:
        box = start(stack, SandboxSettings(clock=fake_clock))
        verifier, challenge = pkce()
        with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
            code = sign_in(box, browser, **authorize_params(box, challenge, org="sandbox"))
        fake_clock.advance(waited)
        answer = exchange(box, code, verifier, org="sandbox")
    assert (answer.status_code == 200) is works
    if not works:
        assert answer.json()["description"] == "the authorization code has expired"


@pytest.mark.parametrize("missing", ["code", "redirect_uri", "code_verifier"])
def test_the_code_grant_names_a_missing_field(box: Box, missing: str) -> None:
    answer = exchange(box, "some-code", pkce()[0], **{missing: ""})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request" and missing in answer.json()["description"]


def test_an_unknown_code_is_invalid_grant(box: Box) -> None:
    assert exchange(box, "never-issued", pkce()[0]).json()["error"] == "invalid_grant"


# --- The authorization request -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_without_s256_pkce_the_client_gets_an_error_back(box: Box, overrides: dict[str, str | None], error: str) -> None:
    params = authorize_params(box, pkce()[1], **overrides)
    answer = box.http.get("/oauth/authorize", params=params, follow_redirects=True)
    assert answer.text == "signed in"
    [query] = box.callback.received
    assert query["error"] == error and query["state"] == params["state"] and "code" not in query


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "nobody"},
        {"redirect_uri": None},
        {"redirect_uri": "http://evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1.evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1@evil.example/callback"},
        {"redirect_uri": "javascript:alert(1)"},
        {"redirect_uri": "https://app.example/cb#fragment"},
        {"redirect_uri": "http://127.0.0.1:notaport/cb"},
    ],
)
def test_an_unknown_client_or_disallowed_redirect_gets_a_page_never_a_redirect(
    box: Box, overrides: dict[str, str | None]
) -> None:
    answer = box.http.get("/oauth/authorize", params=authorize_params(box, pkce()[1], **overrides))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html") and 'role="alert"' in answer.text


def test_a_repeated_parameter_is_refused() -> None:
    with ExitStack() as stack:
        box = start(stack, SandboxSettings())
        params = [*authorize_params(box, pkce()[1], org="sandbox").items(), ("redirect_uri", "https://evil.example/")]
        answer = box.http.get("/oauth/authorize", params=params)
    assert answer.status_code == 400 and "redirect_uri is given more than once" in answer.text


@pytest.mark.parametrize("redirect", ["http://localhost:8765/cb?keep=1", "https://approvals.example/callback"])
def test_loopback_and_https_redirects_are_accepted_and_keep_their_query(box: Box, redirect: str) -> None:
    _, challenge = pkce()
    with httpx.Client(base_url=box.url, verify=TLS) as browser:
        page = browser.get("/oauth/authorize", params=authorize_params(box, challenge, redirect_uri=redirect, state="s"))
        landed = post_login(browser, page, "alice", "alice-sandbox")
    location = urlsplit(landed.headers["location"])
    query = parse_qs(location.query)
    assert landed.status_code == 303 and landed.headers["location"].startswith(redirect.partition("?")[0])
    assert query["state"] == ["s"] and len(query["code"][0]) >= 32 and query.get("keep", ["1"]) == ["1"]


# --- The login form ----------------------------------------------------------------------------


def test_the_form_is_plain_accessible_html_that_cannot_be_framed(box: Box) -> None:
    page = box.http.get("/oauth/authorize", params=authorize_params(box, pkce()[1]))
    text = page.text
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in text and 'name="viewport"' in text
    assert '<label for="username">' in text and 'id="username"' in text
    assert '<label for="password">' in text and 'id="password" name="password" type="password"' in text
    assert 'autocomplete="current-password"' in text and "<script" not in text
    assert "dev" in text and box.callback.url.rsplit("/", 1)[0] in text, "the page says which org and where it returns"
    headers = page.headers
    assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/oauth/authorize" in cookie


def test_a_wrong_password_shows_the_form_again_without_the_password(box: Box) -> None:
    wrong = "Wrong-Passw0rd-" + secrets.token_hex(4)
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        page = browser.get("/oauth/authorize", params=authorize_params(box, pkce()[1]))
        again = post_login(browser, page, "alice", wrong)
        unknown_user = post_login(browser, again, HOSTILE, wrong)
    for answer in (again, unknown_user):
        assert answer.status_code == 200 and not answer.history and BAD_CREDENTIALS in answer.text
        assert wrong not in answer.text and 'role="alert"' in answer.text and 'aria-invalid="true"' in answer.text
    assert 'value="alice"' in again.text and form_token(again.text) != form_token(page.text)
    assert HOSTILE not in unknown_user.text and "&lt;script&gt;" in unknown_user.text
    assert box.callback.received == [] and box.state.codes == {}


def test_the_right_password_after_a_wrong_one_signs_in(box: Box) -> None:
    _, challenge = pkce()
    params = authorize_params(box, challenge)
    with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
        again = post_login(browser, browser.get("/oauth/authorize", params=params), "alice", "nope")
        landed = post_login(browser, again, "alice", "alice-sandbox")
    assert landed.text == "signed in" and box.callback.received[-1]["state"] == params["state"]


def test_a_form_token_works_once(box: Box) -> None:
    with httpx.Client(base_url=box.url, verify=TLS) as browser:
        page = browser.get("/oauth/authorize", params=authorize_params(box, pkce()[1]))
        assert post_login(browser, page, "alice", "alice-sandbox").status_code == 303
        replayed = post_login(browser, page, "alice", "alice-sandbox")
    assert replayed.status_code == 400 and "already used" in replayed.text and "location" not in replayed.headers


def test_a_post_from_another_browser_is_refused(box: Box) -> None:
    """Cross-site: the attacker has a form token, but not the SameSite cookie of the victim's browser."""
    with httpx.Client(base_url=box.url, verify=TLS) as attacker, httpx.Client(base_url=box.url, verify=TLS) as victim:
        page = attacker.get("/oauth/authorize", params=authorize_params(box, pkce()[1]))
        forged = post_login(victim, page, "alice", "alice-sandbox")
    assert forged.status_code == 403 and "location" not in forged.headers and box.state.codes == {}


def test_a_form_expires(fake_clock: FakeClock) -> None:
    with ExitStack() as stack:
        timed = start(stack, SandboxSettings(clock=fake_clock))
        with httpx.Client(base_url=timed.url, verify=TLS) as browser:
            page = browser.get("/oauth/authorize", params=authorize_params(timed, pkce()[1], org="sandbox"))
            fake_clock.advance(601)
            late = post_login(browser, page, "alice", "alice-sandbox")
    assert late.status_code == 400 and "expired" in late.text


# --- Nothing secret is logged ------------------------------------------------------------------


def test_the_flow_logs_no_password_code_verifier_or_token(box: Box, caplog: pytest.LogCaptureFixture) -> None:
    verifier, challenge = pkce()
    with caplog.at_level(logging.DEBUG):
        with httpx.Client(base_url=box.url, verify=TLS, follow_redirects=True) as browser:
            code = sign_in(box, browser, **authorize_params(box, challenge))
        token = exchange(box, code, verifier).json()["access_token"]
        box.http.get(f"{ME}", headers=bearer(token))
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records, "httpx logs its requests at DEBUG: the capture works"
    for secret in ("alice-sandbox", verifier, token, box.settings.org("dev").client_secret):
        assert secret not in logged


def test_user_passwords_are_not_in_reprs() -> None:
    settings = SandboxSettings(users=[SandboxUser("carol", "carol-secret-pw")])
    org = SandboxOrg("dev", "dev-id", "dev-secret-value")
    assert "carol-secret-pw" not in repr(settings) and "carol-secret-pw" not in repr(settings.served_users)
    assert "dev-secret-value" not in repr(org)
