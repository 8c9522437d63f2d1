"""Signing a person in with Genesys: Authorization Code with PKCE (S256), then who they are.

Genesys retires the implicit grant; a person signs in at the org's login host
(`https://login.<domain>/oauth/authorize`, or a local sandbox's own base) with an OAuth
client of the Code/PKCE kind. The code is exchanged at `/oauth/token` with the verifier,
the token is used for exactly two reads (`GET /api/v2/users/me`,
`GET /api/v2/authorization/subjects/me`) and then dropped: it is never stored, logged or
put into an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from iac_mcp.genesys.config import GenesysConfig

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
USERS_ME = "/api/v2/users/me"
SUBJECTS_ME = "/api/v2/authorization/subjects/me"
TIMEOUT = httpx.Timeout(10.0)
MAX_POLICIES = 5000
"""A subjects/me answer with more policies than this is not a role anyone reviews: refused."""


class SignInError(Exception):
    """Signing in failed; the message says why and what to do, and never holds a code or token."""


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair: the verifier stays with us, the S256 challenge goes to the login host."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]: RFC 7636's 43-128
        return cls(verifier, challenge_of(verifier))


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class RolePolicy:
    """One policy of a role grant: `domain:entity` and the actions it allows (`*` wildcards)."""

    domain: str
    entity: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class SignedInUser:
    """Who a user token belonged to (`users/me`), and the policies of their role grants."""

    id: str
    name: str
    policies: tuple[RolePolicy, ...]


def authorize_url(config: GenesysConfig, client_id: str, *, redirect_uri: str, state: str, challenge: str) -> str:
    """Where the browser goes to sign in to the org of `config`."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{config.login_base}{AUTHORIZE_PATH}?{query}"


async def user_for_code(
    config: GenesysConfig,
    client_id: str,
    *,
    code: str,
    redirect_uri: str,
    verifier: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SignedInUser:
    """Exchange the code (public client: no secret, PKCE only), read who signed in, drop the token."""
    async with httpx.AsyncClient(
        transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False, headers={"Accept": "application/json"}
    ) as http:
        token = await _exchange(http, config, client_id, code=code, redirect_uri=redirect_uri, verifier=verifier)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            user = await _read(http, config.api_base + USERS_ME, headers, "who signed in")
            subject = await _read(http, config.api_base + SUBJECTS_ME, headers, "what the user may do")
        finally:
            del headers, token
    user_id, name = user.get("id"), user.get("name") or user.get("username")
    if not isinstance(user_id, str) or not user_id or not isinstance(name, str):
        raise SignInError("Genesys answered users/me without a user id and name: try signing in again.")
    return SignedInUser(user_id[:200], name[:200], _policies(subject))


async def _exchange(
    http: httpx.AsyncClient, config: GenesysConfig, client_id: str, *, code: str, redirect_uri: str, verifier: str
) -> str:
    try:
        answer = await http.post(
            config.login_base + TOKEN_PATH,
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
    except httpx.HTTPError as error:
        raise SignInError(
            f"The Genesys login host could not be reached ({type(error).__name__}): try signing in again."
        ) from None
    body = _json(answer)
    if answer.status_code != 200:
        kind = str(body.get("error") or f"HTTP {answer.status_code}")[:100]
        description = str(body.get("error_description") or body.get("description") or "")[:300]
        if code in description or verifier in description:  # never echo what was sent
            description = ""
        detail = f"{kind}: {description}" if description else kind
        raise SignInError(
            f"Genesys refused the sign-in code ({detail}). Sign in again from the approval page; if it repeats, check "
            "that the profile's approval_client_id is a Code/PKCE OAuth client whose redirect URI is this page's callback."
        )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise SignInError("Genesys answered the sign-in without an access token: try signing in again.")
    return token


async def _read(http: httpx.AsyncClient, url: str, headers: dict[str, str], what: str) -> dict[str, Any]:
    try:
        answer = await http.get(url, headers=headers)
    except httpx.HTTPError as error:
        raise SignInError(f"Genesys could not be asked {what} ({type(error).__name__}): try signing in again.") from None
    if answer.status_code != 200:
        raise SignInError(
            f"Genesys would not say {what} (HTTP {answer.status_code}). The sign-in client needs the scopes for "
            "users/me and authorization/subjects/me; sign in again."
        )
    return _json(answer)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _policies(subject: dict[str, Any]) -> tuple[RolePolicy, ...]:
    """The policies of every role grant; anything malformed grants nothing (fail closed)."""
    found: list[RolePolicy] = []
    grants = subject.get("grants")
    for grant in grants if isinstance(grants, list) else []:
        role = grant.get("role") if isinstance(grant, dict) else None
        policies = role.get("policies") if isinstance(role, dict) else None
        for policy in policies if isinstance(policies, list) else []:
            if not isinstance(policy, dict):
                continue
            domain, entity, actions = policy.get("domain"), policy.get("entityName"), policy.get("actions")
            if isinstance(domain, str) and isinstance(entity, str) and isinstance(actions, list):
                found.append(RolePolicy(domain, entity, tuple(a for a in actions if isinstance(a, str))))
    if len(found) > MAX_POLICIES:
        raise SignInError("Genesys answered subjects/me with more role policies than can be checked.")
    return tuple(found)
