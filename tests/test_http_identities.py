"""Who calls the shared server: named bearer tokens and OAuth access tokens, over real HTTP.

The JWT tests run a real JWKS server (uvicorn on loopback) holding keys the test mints, and
attack the verifier with what a hostile client would send: expired, foreign, unsigned,
HMAC-signed with the public key, unknown keys, tampered payloads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from http_support import INITIALIZE, MCP_HEADERS, Consenting, cli, free_port, http_app, http_client, run_flow, running_http
from mcp.shared.auth import ProtectedResourceMetadata
from servers import CLEAN_ENV, fresh_ledger, fresh_ledger_url, sandbox
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.sandbox.serve import serve_in_thread
from iac_mcp.settings import SettingsError, load_settings
from iac_mcp.transports.http import check_exposure
from iac_mcp.transports.identities import fingerprint, oauth_principal

OPS_TOKEN = "ops-bot-token-0123456789abcdef0123456789"
CI_TOKEN = "ci-runner-token-0123456789abcdef01234567"
BARE_TOKEN = "bare-token-0123456789abcdef0123456789abc"
ISSUER = "https://idp.example.test"
AUDIENCE = "https://mcp.example.test/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"


def _post(url: str, token: str | None) -> httpx.Response:
    headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.post(url + "/mcp", json=INITIALIZE, headers=headers, timeout=20)


# --- Named tokens: the settings ---------------------------------------------------------


def test_token_file_lines_are_named_or_fingerprinted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"# the fleet\nops-bot:{OPS_TOKEN}\n\n  {BARE_TOKEN}  \n", encoding="utf-8")
    monkeypatch.setenv("IAC_MCP_HTTP_TOKENS", f"ci.runner@team-1:{CI_TOKEN}, ops-bot:{OPS_TOKEN}")
    tokens = load_settings({"token_file": file}).bearer_tokens()
    assert [(t.name, t.token) for t in tokens] == [
        ("ci.runner@team-1", CI_TOKEN),
        ("ops-bot", OPS_TOKEN),
        (fingerprint(BARE_TOKEN), BARE_TOKEN),
    ], "an exact repeat (env and file) counts once"
    assert OPS_TOKEN not in repr(tokens), "a token never shows in a repr (logs, tracebacks)"


BAD_LINES = [
    (f"ops bot:{OPS_TOKEN}", "1 to 64 of the characters"),
    (f"{'n' * 65}:{OPS_TOKEN}", "1 to 64 of the characters"),
    (f":{OPS_TOKEN}", "1 to 64 of the characters"),
    (f"token-0123:{OPS_TOKEN}", "must not start with 'token-'"),
    ("ops-bot:short-secret", "at least 32 visible ASCII"),
    (f"ops-bot:{OPS_TOKEN}\u00e9", "at least 32 visible ASCII"),
    (f"ops-bot:{OPS_TOKEN} trailing", "at least 32 visible ASCII"),
    (f"ops-bot:{CI_TOKEN}", "share a token name or a token"),
    (f"other:{OPS_TOKEN}", "share a token name or a token"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_a_bad_token_line_is_named_by_file_and_line_never_quoted(tmp_path: Path, line: str, reason: str) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"ops-bot:{OPS_TOKEN}\n# comment\n{line}\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings({"token_file": file}).bearer_tokens()
    message = str(caught.value)
    assert f"{file} line 3" in message and reason in message, message
    for secret in (OPS_TOKEN, CI_TOKEN, "short-secret", line.partition(":")[0] or "::"):
        assert secret not in message.replace(str(file), "")


def test_the_variable_takes_the_same_items_and_names_the_bad_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAC_MCP_HTTP_TOKENS", f"ops-bot:{OPS_TOKEN},bad/name:{CI_TOKEN}")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "IAC_MCP_HTTP_TOKENS" in message and "item 2" in message and "1 to 64" in message
    assert CI_TOKEN not in message and "bad/name" not in message
    monkeypatch.setenv("IAC_MCP_HTTP_TOKENS", f"ops-bot:{OPS_TOKEN},ops-bot:{CI_TOKEN}")
    with pytest.raises(SettingsError, match="item 2 and item 1 share"):
        load_settings()


def test_serve_exits_2_on_a_bad_token_file_without_echoing_it(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"ops-bot:{OPS_TOKEN}\nwho?:{CI_TOKEN}\n", encoding="utf-8")
    done = subprocess.run(
        cli("serve", "--http", "--sandbox", "--port", str(free_port()), "--token-file", str(file)),
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"{file} line 2" in done.stderr
    assert OPS_TOKEN not in done.stderr and CI_TOKEN not in done.stderr and "who?" not in done.stderr


def test_principals_of_the_three_kinds_never_collide() -> None:
    named = "ops-bot"
    assert oauth_principal(named) == "oauth:ops-bot" != named
    assert oauth_principal("auth0|5f1c") == "oauth:auth0|5f1c"
    hostile = ["alice\nINFO forged log line", "alice\u202eevil", "a b", "a_b\u200b", "x" * 500]
    principals = [oauth_principal(subject) for subject in hostile]
    assert len(set(principals)) == len(hostile), "distinct subjects stay distinct principals"
    for principal in principals:
        assert principal.startswith("oauth:") and principal.isascii() and principal.isprintable()
        assert len(principal) <= 80 and "\n" not in principal
    assert oauth_principal("a_b") != oauth_principal("a b")


# --- Named tokens: over real HTTP, in the audit trail, never in logs ----------------------


def _audit(database_url: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        cli("audit", "--json"),
        env={**CLEAN_ENV, "IAC_MCP_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_audit_trail_names_the_caller_and_no_log_holds_a_token(caplog: pytest.LogCaptureFixture) -> None:
    url_of_ledger = fresh_ledger_url()
    tokens = (f"ops-bot:{OPS_TOKEN}", BARE_TOKEN)
    caplog.set_level(logging.DEBUG)
    with running_http(http_app(sandbox(), tokens=tokens, ledger=fresh_ledger(url_of_ledger))) as url:
        for token in (OPS_TOKEN, BARE_TOKEN):
            async with http_client(url, "auto", token=token, elicitation_callback=Consenting()) as client:
                await run_flow(client)
        assert _post(url, "ops-bot").status_code == 401, "a name is not a token"
    principals = {record["principal"] for record in _audit(url_of_ledger)}
    assert principals == {"ops-bot", fingerprint(BARE_TOKEN)}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Bearer-token authentication" in logged, "the server's logs were captured"
    assert OPS_TOKEN not in logged and BARE_TOKEN not in logged


# --- OAuth: a JWKS server and tokens the test mints ---------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Keys:
    """Signing keys the identity provider would hold, and the JWKS it publishes."""

    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    stranger: rsa.RSAPrivateKey
    published: list[dict[str, Any]]

    def rsa_public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _keys() -> Keys:
    signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curve = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(curve.public_key()))
    published = [{**rsa_jwk, "kid": "rsa-1", "use": "sig"}, {**ec_jwk, "kid": "ec-1", "use": "sig"}]
    return Keys(signing, curve, rsa.generate_private_key(public_exponent=65537, key_size=2048), published)


@dataclass
class Provider:
    """The JWKS endpoint, counting how often it is fetched."""

    keys: Keys
    fetches: int = 0

    async def jwks(self, _: Request) -> JSONResponse:
        self.fetches += 1
        return JSONResponse({"keys": self.keys.published})


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[str, Provider]]:
    state = Provider(_keys())
    with serve_in_thread(Starlette(routes=[Route("/jwks", state.jwks)])) as url:
        yield url + "/jwks", state


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice@example.test", "iat": now, "exp": now + 600}
    claims["scope"] = "iac.read iac.run"
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _mint(keys: Keys, algorithm: str = "RS256", kid: str = "rsa-1", **claims: Any) -> str:
    key = keys.ec if algorithm == "ES256" else keys.rsa
    return jwt.encode(_claims(**claims), key, algorithm=algorithm, headers={"kid": kid})


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)))


def _oauth_app(jwks_url: str, **options: Any) -> Starlette:
    return http_app(sandbox(), oauth_issuer=ISSUER, oauth_audience=AUDIENCE, oauth_jwks_url=jwks_url, **{"tokens": (), **options})


@pytest.fixture(scope="module")
def oauth_server(provider: tuple[str, Provider]) -> Iterator[str]:
    jwks_url, _ = provider
    with running_http(_oauth_app(jwks_url, tokens=(f"ops-bot:{OPS_TOKEN}",))) as url:
        yield url


@pytest.mark.anyio
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_a_valid_access_token_calls_tools_end_to_end(
    oauth_server: str, provider: tuple[str, Provider], algorithm: str
) -> None:
    _, state = provider
    token = _mint(state.keys, algorithm, kid="ec-1" if algorithm == "ES256" else "rsa-1")
    async with http_client(oauth_server, "auto", token=token) as client:
        listing = await client.call_tool("list-accelerators", {"page_size": 2})
    assert not listing.is_error and listing.structured_content["accelerators"]


def _forged(keys: Keys) -> dict[str, str]:
    """Every token an attacker or a misconfigured provider might present, by what is wrong with it."""
    now = int(time.time())
    valid = _mint(keys)
    header, _, signature = valid.split(".")
    tampered = ".".join((header, _b64(json.dumps(_claims(sub="admin")).encode()), signature))
    confusion_header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = ".".join((_b64(json.dumps(confusion_header).encode()), _b64(json.dumps(_claims()).encode())))
    confused = signing_input + "." + _b64(hmac.new(keys.rsa_public_pem(), signing_input.encode(), hashlib.sha256).digest())
    return {
        "expired": _mint(keys, exp=now - 600, iat=now - 1200),
        "not yet valid": _mint(keys, nbf=now + 600),
        "wrong audience": _mint(keys, aud="https://other.example.test/mcp"),
        "wrong issuer": _mint(keys, iss="https://evil.example.test"),
        "no subject": _mint(keys, sub=None),
        "no expiry": _mint(keys, exp=None),
        "alg none": _unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, _claims()),
        "HS256 with the public key": confused,
        "unknown kid": jwt.encode(_claims(), keys.stranger, algorithm="RS256", headers={"kid": "stranger"}),
        "a stranger's key under a known kid": jwt.encode(_claims(), keys.stranger, algorithm="RS256", headers={"kid": "rsa-1"}),
        "RS384": jwt.encode(_claims(), keys.rsa, algorithm="RS384", headers={"kid": "rsa-1"}),
        "ES256 header on the RSA key": _unsigned({"alg": "ES256", "kid": "rsa-1"}, _claims(), b"x" * 64),
        "no kid": jwt.encode(_claims(), keys.rsa, algorithm="RS256"),
        "tampered payload": tampered,
        "not a JWT": "eyJhbGciOi.not-base64!.x",
    }


FORGERIES = list(_forged(_keys()))


@pytest.mark.parametrize("what", FORGERIES)
def test_a_forged_or_foreign_token_is_401(oauth_server: str, provider: tuple[str, Provider], what: str) -> None:
    _, state = provider
    answer = _post(oauth_server, _forged(state.keys)[what])
    assert answer.status_code == 401, (what, answer.text)
    assert f'resource_metadata="{AUDIENCE.rsplit("/", 1)[0]}{METADATA_PATH}"' in answer.headers["www-authenticate"]


def test_the_valid_token_of_the_same_kind_passes(oauth_server: str, provider: tuple[str, Provider]) -> None:
    """The refusals above are for what is wrong, not for being a JWT: the same request with a good token passes."""
    _, state = provider
    assert _post(oauth_server, _mint(state.keys)).status_code == 200
    assert _post(oauth_server, OPS_TOKEN).status_code == 200, "static named tokens work beside OAuth"


def test_unknown_kids_do_not_make_the_server_hammer_the_provider(oauth_server: str, provider: tuple[str, Provider]) -> None:
    _, state = provider
    _post(oauth_server, _mint(state.keys))
    before = state.fetches
    stranger = _forged(state.keys)["unknown kid"]
    for _ in range(10):
        assert _post(oauth_server, stranger).status_code == 401
    assert state.fetches - before <= 1, "an unknown kid refetches the key set at most once per cooldown"


def test_protected_resource_metadata_names_the_issuer(oauth_server: str) -> None:
    answer = httpx.get(oauth_server + METADATA_PATH, timeout=10)
    assert answer.status_code == 200
    metadata = ProtectedResourceMetadata.model_validate_json(answer.text)
    assert str(metadata.resource) == AUDIENCE
    assert [str(server) for server in metadata.authorization_servers] == [ISSUER], "the issuer exactly, no added slash"
    unauthenticated = _post(oauth_server, None)
    assert unauthenticated.status_code == 401
    assert "resource_metadata=" in unauthenticated.headers["www-authenticate"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_audit_trail_names_the_oauth_subject_and_no_log_holds_the_token(caplog: pytest.LogCaptureFixture) -> None:
    keys = _keys()
    state = Provider(keys)
    ledger_url = fresh_ledger_url()
    token = _mint(keys, sub="bob")
    refused = _forged(keys)["wrong audience"]
    caplog.set_level(logging.DEBUG)
    with serve_in_thread(Starlette(routes=[Route("/jwks", state.jwks)])) as jwks:
        app = _oauth_app(jwks + "/jwks", ledger=fresh_ledger(ledger_url))
        with running_http(app) as url:
            async with http_client(url, "auto", token=token, elicitation_callback=Consenting()) as client:
                await run_flow(client)
            assert _post(url, refused).status_code == 401
    assert {record["principal"] for record in _audit(ledger_url)} == {"oauth:bob"}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "OAuth access token refused: InvalidAudienceError" in logged, "the refusal is logged, by reason"
    for secret in (token, refused):
        assert all(part not in logged for part in secret.split(".")), "no part of a token reaches a log"


def test_a_provider_that_is_down_gets_503_and_a_log_line_never_an_accept(caplog: pytest.LogCaptureFixture) -> None:
    keys = _keys()
    state = Provider(keys)
    with serve_in_thread(Starlette(routes=[Route("/jwks", state.jwks)])) as jwks:
        down = jwks + "/jwks"
    with (
        caplog.at_level(logging.ERROR, logger="iac_mcp.http.oauth"),
        running_http(_oauth_app(down, tokens=(f"ops-bot:{OPS_TOKEN}",))) as url,
    ):
        answer = _post(url, _mint(keys))
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"].isdigit() and "signing keys" in answer.json()["error_description"]
        assert _post(url, _forged(keys)["alg none"]).status_code == 401, "refused before any key is needed"
        assert _post(url, OPS_TOKEN).status_code == 200, "static tokens do not depend on the provider"
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    assert any("cannot be fetched" in r.getMessage() and down in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"oauth_issuer": ISSUER}, "IAC_MCP_OAUTH_ISSUER, IAC_MCP_OAUTH_AUDIENCE, IAC_MCP_OAUTH_JWKS_URL together"),
        (
            {"oauth_issuer": ISSUER, "oauth_audience": "api://mcp", "oauth_jwks_url": ISSUER + "/jwks"},
            "IAC_MCP_OAUTH_RESOURCE_URL",
        ),
    ],
)
def test_incomplete_oauth_settings_are_refused(options: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        load_settings(options).oauth()


@pytest.mark.parametrize("url", ["http://idp.example.test", "ftp://idp.example.test", "https://user:pw@idp.example.test", "idp"])
def test_oauth_urls_must_be_https_except_loopback(url: str) -> None:
    with pytest.raises(SettingsError, match="IAC_MCP_OAUTH_JWKS_URL") as caught:
        load_settings({"oauth_issuer": ISSUER, "oauth_audience": AUDIENCE, "oauth_jwks_url": url})
    assert "pw" not in str(caught.value)
    loopback = load_settings({"oauth_issuer": ISSUER, "oauth_audience": AUDIENCE, "oauth_jwks_url": "http://127.0.0.1:9/jwks"})
    assert loopback.oauth() is not None


def test_oauth_alone_authenticates_an_exposed_server() -> None:
    settings = load_settings(
        {"host": "0.0.0.0", "oauth_issuer": ISSUER, "oauth_audience": AUDIENCE, "oauth_jwks_url": ISSUER + "/jwks"}
    )
    assert settings.bearer_tokens() == () and settings.oauth() is not None
    check_exposure(settings, settings.bearer_tokens(), settings.oauth())
    with pytest.raises(ConfigurationError, match="without authentication"):
        check_exposure(settings, (), None)
