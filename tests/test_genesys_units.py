"""Pure pieces of the Genesys client: id validation, retry arithmetic, error parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from iac_mcp.genesys import (
    ApiError,
    BadRequestError,
    InvalidIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
)
from iac_mcp.genesys.errors import ConflictError, UnsupportedMediaError, error_from_response, parse_retry_after
from iac_mcp.genesys.ids import validate_id
from iac_mcp.genesys.models import AcceleratorList, parse_job_history


@pytest.mark.parametrize(
    "value",
    ["556a3b1e-80ba-40a2-adee-1c9a4f24b370", "a", "A.b_c~d-9", "x" * 128, "v1.2"],
)
def test_valid_ids(value: str) -> None:
    assert validate_id(value, "job id") == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("x" * 129, "129 characters"),
        ("a/b", "'/'"),
        ("a\\b", "'\\'"),
        ("..", "'..'"),
        ("a..b", "'..'"),
        (".", "'.'"),
        ("a?b", "'?'"),
        ("a#b", "'#'"),
        ("a%2Fb", "'%'"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
        ("a\x00b", "control character"),
        ("a\x7fb", "control character"),
        ("a;b", "';'"),
        ("a@b", "'@'"),
        ("é", "'é'"),
    ],
)
def test_invalid_ids(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdError) as caught:
        validate_id(value, "job id")
    assert reason in str(caught.value)
    assert "Invalid job id" in str(caught.value) and "No request was sent" in str(caught.value)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=5, jitter=0.5)
    for retry, full in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        delays = {policy.backoff(retry) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) > 1
    assert RetryPolicy(base_delay=1, jitter=0).backoff(3) == 4


def test_next_delay_bounds() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=10, max_delay=10, max_total_wait=12, jitter=0)
    assert policy.next_delay(1, 0, None) == 10
    assert policy.next_delay(2, 10, None) == 2  # capped by what is left of the total wait
    assert policy.next_delay(3, 0, None) is None  # attempts exhausted
    assert policy.next_delay(1, 12, None) is None  # wait exhausted
    assert policy.next_delay(1, 0, 12) == 12  # Retry-After honoured exactly
    assert policy.next_delay(1, 1, 12) is None  # Retry-After beyond the bound: give up now


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1}, {"jitter": 2}])
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7
    assert parse_retry_after("1.5", now=now) == 1.5
    assert parse_retry_after("-3", now=now) == 0
    date = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(date, now=now) == 30
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def _response(status: int, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://api.example.test/api/v2/infrastructureascode/jobs/x?secret=1")
    return httpx.Response(status, content=content, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (403, PermissionDeniedError), (404, NotFoundError), (429, RateLimitedError), (500, ServerError), (503, ServerError), (409, ConflictError), (415, UnsupportedMediaError), (418, ApiError)],
)
def test_error_classes(status: int, cls: type[ApiError]) -> None:
    assert type(error_from_response(_response(status, b"{}"))) is cls


def test_non_json_error_body_and_header_correlation() -> None:
    error = error_from_response(
        _response(502, b"<html>bad gateway</html>", {"ININ-Correlation-Id": "corr-1", "Retry-After": "3"})
    )
    assert isinstance(error, ServerError)
    assert error.correlation_id == "corr-1"
    assert error.retry_after == 3
    assert error.message == "Bad Gateway"
    assert error.path == "/api/v2/infrastructureascode/jobs/x"
    assert "secret" not in str(error)
    assert "GET /api/v2/infrastructureascode/jobs/x" in str(error)


def test_body_context_id_wins_over_header() -> None:
    error = error_from_response(
        _response(404, b'{"message": "gone", "code": "resource.not.found", "contextId": "body-id"}', {"ININ-Correlation-Id": "hdr"})
    )
    assert error.correlation_id == "body-id" and error.code == "resource.not.found"


# --- Lenient wire models -------------------------------------------------------------------

JOB = {"id": "j1", "status": "Complete"}


@pytest.mark.parametrize(
    ("payload", "ids"),
    [([JOB], ["j1"]), ({"entities": [JOB, None]}, ["j1"]), (JOB, ["j1"]), ({"entities": None}, []), ({}, []), (None, []), ([], [])],
)
def test_job_history_shapes(payload: object, ids: list[str]) -> None:
    assert [job.id for job in parse_job_history(payload)] == ids


@pytest.mark.parametrize("payload", [{"items": [JOB]}, {"jobs": [], "total": 0}, {"entities": "none"}])
def test_an_unrecognised_history_is_an_error_naming_its_keys(payload: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="keys") as raised:
        parse_job_history(payload)
    for key in payload:
        assert key in str(raised.value)


def test_one_malformed_listing_entry_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    payload = {"entities": [{"id": "a", "name": None}, {"id": "b", "tags": 5}, {"name": "no id"}], "total": 3}
    with caplog.at_level("WARNING", logger="iac_mcp.genesys.models"):
        page = AcceleratorList.model_validate(payload)
    assert [(e.id, e.name) for e in page.entities] == [("a", ""), ("", "no id")]
    assert "entry 1 (tags)" in caplog.text


def test_a_null_listing_reads_as_empty() -> None:
    assert AcceleratorList.model_validate({"entities": None, "total": 0}).entities == []
