"""Sandbox platform behaviour over real HTTP: login, bearer tokens, permissions, limits, headers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from conftest import FakeClock, Sandbox, fetch_token

from iac_mcp.sandbox.jobs import FAILURE_DEMO_ID
from iac_mcp.sandbox.settings import SandboxSettings

API = "/api/v2/infrastructureascode"
ERROR_FIELDS = {"message", "code", "status", "messageWithParams", "messageParams", "contextId", "details", "errors"}
JOB_BODY = {"acceleratorId": FAILURE_DEMO_ID, "dryRun": True, "parameters": [{"name": "queue_name", "value": "Support"}]}


def assert_genesys_error(answer: httpx.Response, status: int, code: str) -> dict[str, object]:
    body = answer.json()
    assert answer.status_code == status
    assert set(body) >= ERROR_FIELDS
    assert body["code"] == code and body["status"] == status
    assert body["contextId"] == answer.headers["ININ-Correlation-Id"]
    return dict(body)


def test_token_flow_issues_distinct_bearer_tokens(sandbox_url: str, sandbox_settings: SandboxSettings) -> None:
    with httpx.Client(base_url=sandbox_url) as client:
        answer = client.post(
            "/oauth/token",
            auth=("iac-mcp-sandbox", "sandbox-secret"),
            data={"grant_type": "client_credentials"},
        )
        second = fetch_token(client, sandbox_settings)
    body = answer.json()
    assert answer.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 86400
    assert len(body["access_token"]) >= 32 and body["access_token"] != second


def test_token_requests_are_counted(sandbox: Sandbox) -> None:
    assert sandbox.state.token_requests == 1
    fetch_token(sandbox.client, sandbox.state.settings)
    assert sandbox.state.token_requests == 2 and sandbox.state.requests["token"] == 2


@pytest.mark.parametrize(
    "auth",
    [("iac-mcp-sandbox", "wrong"), ("someone-else", "sandbox-secret"), None],
    ids=["bad-secret", "bad-id", "no-credentials"],
)
def test_bad_client_credentials_answer_invalid_client(sandbox_url: str, auth: tuple[str, str] | None) -> None:
    with httpx.Client(base_url=sandbox_url) as client:
        answer = client.post("/oauth/token", auth=auth, data={"grant_type": "client_credentials"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client" and answer.json()["description"]


def test_wrong_grant_type_is_unsupported(sandbox_url: str) -> None:
    with httpx.Client(base_url=sandbox_url) as client:
        answer = client.post("/oauth/token", auth=("iac-mcp-sandbox", "sandbox-secret"), data={"grant_type": "password"})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


def test_custom_client_pair(start_sandbox: Callable[..., Sandbox]) -> None:
    box = start_sandbox(client_id="ci-client", client_secret="s3cr3t-value")
    assert box.client.get(f"{API}/accelerators").status_code == 200


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "authentication.required"),
        ("Bearer not-a-token", "bad.credentials"),
        ("Basic aWFjOnNlY3JldA==", "bad.credentials"),
        ("Bearer", "bad.credentials"),
    ],
)
def test_api_refuses_missing_or_unknown_tokens(sandbox_url: str, header: str | None, code: str) -> None:
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url=sandbox_url) as client:
        for answer in (
            client.get(f"{API}/accelerators", headers=headers),
            client.get(f"{API}/accelerators/{FAILURE_DEMO_ID}", headers=headers),
            client.post(f"{API}/jobs", headers=headers, json=JOB_BODY),
            client.get(f"{API}/jobs", headers=headers),
            client.get(f"{API}/jobs/x", headers=headers),
        ):
            assert_genesys_error(answer, 401, code)


def test_token_expires_after_its_lifetime(start_sandbox: Callable[..., Sandbox], fake_clock: FakeClock) -> None:
    box = start_sandbox(clock=fake_clock, token_lifetime=300)
    assert box.client.get(f"{API}/accelerators").status_code == 200
    fake_clock.advance(299)
    assert box.client.get(f"{API}/accelerators").status_code == 200
    fake_clock.advance(1)
    assert_genesys_error(box.client.get(f"{API}/accelerators"), 401, "credentials.expired")
    box.client.headers["Authorization"] = f"Bearer {fetch_token(box.client, box.state.settings)}"
    assert box.client.get(f"{API}/accelerators").status_code == 200


ANY_OF = "You must have at least one of the following permissions assigned"
ALL_OF = "You are missing the following permission(s)"


@pytest.mark.parametrize(
    ("permission", "method", "path", "code", "wording"),
    [
        ("infrastructureascode:accelerator:view", "GET", f"{API}/accelerators", "missing.any.permissions", ANY_OF),
        ("infrastructureascode:accelerator:view", "GET", f"{API}/accelerators/{FAILURE_DEMO_ID}", "missing.any.permissions", ANY_OF),
        ("infrastructureascode:job:add", "POST", f"{API}/jobs", "missing.any.permissions", ANY_OF),
        ("infrastructureascode:job:view", "GET", f"{API}/jobs", "missing.any.permissions", ANY_OF),
        ("infrastructureascode:job:view", "GET", f"{API}/jobs/some-job", "missing.permissions", ALL_OF),
    ],
)
def test_missing_permission_answers_403_naming_it(
    start_sandbox: Callable[..., Sandbox], permission: str, method: str, path: str, code: str, wording: str
) -> None:
    box = start_sandbox(missing_permissions=frozenset({permission}))
    body = assert_genesys_error(box.client.request(method, path, json=JOB_BODY), 403, code)
    assert body["message"] == f"Unable to perform the requested action. {wording}: [{permission}]"
    assert body["messageParams"] == {"permissions": f"[{permission}]"}
    assert "{permissions}" in str(body["messageWithParams"])
    assert box.state.jobs_created == 0


def test_client_permissions_limit_the_routes_too(start_sandbox: Callable[..., Sandbox]) -> None:
    box = start_sandbox(client_permissions=frozenset({"infrastructureascode:accelerator:view"}))
    assert box.client.get(f"{API}/accelerators").status_code == 200
    assert_genesys_error(box.client.post(f"{API}/jobs", json=JOB_BODY), 403, "missing.any.permissions")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_post_that_is_not_json_answers_415(sandbox: Sandbox, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = sandbox.client.post(f"{API}/jobs", content=b'{"acceleratorId": "x"}', headers=headers)
    body = assert_genesys_error(answer, 415, "unsupported.media.type")
    assert "application/json" in str(body["message"]) and sandbox.state.jobs_created == 0


def test_json_with_a_charset_is_json(sandbox: Sandbox) -> None:
    answer = sandbox.client.post(f"{API}/jobs", content=b'{"acceleratorId": "nope"}', headers={"Content-Type": "application/json; charset=utf-8"})
    assert_genesys_error(answer, 400, "bad.request")


def test_other_permissions_still_work(start_sandbox: Callable[..., Sandbox]) -> None:
    box = start_sandbox(missing_permissions=frozenset({"infrastructureascode:job:add"}))
    assert box.client.get(f"{API}/accelerators").status_code == 200
    assert box.client.get(f"{API}/jobs").status_code == 200


def test_rate_limit_per_token_in_a_sliding_minute(start_sandbox: Callable[..., Sandbox], fake_clock: FakeClock) -> None:
    box = start_sandbox(clock=fake_clock, rate_limit_per_minute=3)
    for _ in range(2):
        assert box.client.get(f"{API}/accelerators").status_code == 200
        fake_clock.advance(20)
    assert box.client.get(f"{API}/jobs").status_code == 200
    limited = box.client.get(f"{API}/accelerators")
    body = assert_genesys_error(limited, 429, "too.many.requests.retry.after")
    assert limited.headers["Retry-After"] == "20"
    assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [20] seconds"
    other = fetch_token(box.client, box.state.settings)
    assert box.client.get(f"{API}/accelerators", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    fake_clock.advance(20)
    assert box.client.get(f"{API}/accelerators").status_code == 200


@pytest.mark.parametrize("path", [f"{API}/jobs", "/oauth/token"])
def test_bodies_over_512000_bytes_answer_413(sandbox: Sandbox, path: str) -> None:
    answer = sandbox.client.post(path, content=b"x" * 512_001, headers={"Content-Type": "application/json"})
    body = assert_genesys_error(answer, 413, "request.entity.too.large")
    assert body["message"] == "The request is over the size limit. Maximum bytes: 512000"
    assert sandbox.state.jobs_created == 0


def test_body_at_the_limit_is_read(sandbox: Sandbox) -> None:
    padded = b'{"acceleratorId": "nope"}'.ljust(512_000, b" ")
    answer = sandbox.client.post(f"{API}/jobs", content=padded, headers={"Content-Type": "application/json"})
    assert_genesys_error(answer, 400, "bad.request")


def test_every_answer_has_a_unique_correlation_id(sandbox: Sandbox) -> None:
    answers = [
        sandbox.client.get(f"{API}/accelerators"),
        sandbox.client.get(f"{API}/accelerators"),
        sandbox.client.get(f"{API}/jobs"),
        sandbox.client.get(f"{API}/accelerators/unknown"),
        sandbox.client.post("/oauth/token", data={"grant_type": "client_credentials"}),
    ]
    ids = [a.headers["ININ-Correlation-Id"] for a in answers]
    assert len(set(ids)) == len(ids) and all(ids)


def test_unknown_paths_answer_a_genesys_404(sandbox: Sandbox) -> None:
    assert_genesys_error(sandbox.client.get("/api/v2/nothing-here"), 404, "not.found")
