"""OAuth 2.1 resource-server mode: JWT access tokens from the organisation's identity provider.

The server never issues tokens; it checks them. A token passes only when it is signed with
RS256 or ES256 by a key the issuer publishes (JWKS, fetched with PyJWT's caching client, off
the event loop), names the configured issuer and audience, is within `exp`/`nbf` (a small
leeway for clock skew) and has a subject. `alg=none`, every HMAC algorithm (the classic
confusion attack signs HS256 with the public key) and keys whose own algorithm differs from
the token's are refused before any signature check. The principal is `oauth:<sub>`
(`identities.oauth_principal`), which no bearer-token name can spell.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import anyio.to_thread
import jwt
from mcp.server.auth.provider import AccessToken

from iac_mcp.settings import OAuthResourceServer
from iac_mcp.transports.identities import oauth_principal

log = logging.getLogger("iac_mcp.http.oauth")

ALGORITHMS = ("RS256", "ES256")
"""Asymmetric only: an HMAC key would have to be shared with every resource server."""

CLOCK_LEEWAY_SECONDS = 30
"""Clock skew tolerated on `exp` and `nbf`."""

KEYS_CACHE_SECONDS = 300
"""How long a fetched key set is trusted before it is fetched again."""

UNKNOWN_KID_COOLDOWN_SECONDS = 30
"""An unknown `kid` refetches the key set at most this often (a rotated key), never per request."""

JWKS_TIMEOUT_SECONDS = 5
"""A slow identity provider delays a request this long at most, then the request gets 503."""

REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")

UNKNOWN_KID_MESSAGE = "Unable to find a signing key"
"""How PyJWT says the key set has no such `kid` (a refusal, unlike a fetch failure)."""


class KeysUnavailableError(Exception):
    """The issuer's signing keys cannot be fetched now: answer 503, neither accept nor blame the token."""


class JwtVerifier:
    """mcp `TokenVerifier` for JWT access tokens from one issuer, for one audience."""

    def __init__(self, config: OAuthResourceServer) -> None:
        self._config = config
        self._keys = jwt.PyJWKClient(
            config.jwks_url,
            cache_jwk_set=True,
            lifespan=KEYS_CACHE_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
            cooldown_duration=UNKNOWN_KID_COOLDOWN_SECONDS,
        )
        self._fetching = anyio.CapacityLimiter(1)  # one thread waits on the provider; the rest wait here

    @property
    def issuer(self) -> str:
        return self._config.issuer

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's principal and scopes, None when it is refused; `KeysUnavailableError` when the
        keys cannot be fetched."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return _refused("not a JWT")
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            return _refused("algorithm not allowed")
        if not isinstance(kid, str) or not kid:
            return _refused("no key id (kid)")
        key = await anyio.to_thread.run_sync(self._signing_key, kid, limiter=self._fetching)
        if key is None:
            return _refused("unknown key id (kid)")
        if key.algorithm_name != algorithm:
            return _refused("the key is for another algorithm")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self._config.audience,
                issuer=self._config.issuer,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError as error:
            return _refused(type(error).__name__)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            return _refused("no subject")
        return AccessToken(
            token="",
            client_id=oauth_principal(subject),
            scopes=_scopes(claims),
            subject=subject,
            claims={"iss": claims["iss"]},
        )

    def _signing_key(self, kid: str) -> jwt.PyJWK | None:
        """The issuer's key `kid` (blocking: runs in a worker thread), None when it publishes none."""
        try:
            return self._keys.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as error:
            reason = f"unreachable ({type(error.__cause__ or error).__name__})"
        except jwt.PyJWKClientError as error:
            if str(error).startswith(UNKNOWN_KID_MESSAGE):
                return None
            reason = f"unusable key set ({type(error).__name__})"
        except (jwt.PyJWKSetError, jwt.PyJWKError, jwt.InvalidKeyError) as error:
            reason = f"unusable key set ({type(error).__name__})"
        log.error(
            "OAuth: the signing keys at %s cannot be fetched, %s: requests with OAuth tokens get 503 until they can",
            self._config.jwks_url,
            reason,
        )
        raise KeysUnavailableError(reason)


def _refused(reason: str) -> AccessToken | None:
    """No principal; the reason is logged (ours, never text from the token)."""
    log.info("OAuth access token refused: %s", reason)
    return None


def _scopes(claims: dict[str, object]) -> list[str]:
    """Scopes from `scope` (space-separated, RFC 9068) or `scp` (a list or a string, as some providers send)."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
            return [str(item) for item in value]
    return []
