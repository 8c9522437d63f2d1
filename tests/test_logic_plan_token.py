"""Plan tokens: round trip, every refusal, tampering, key derivation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iac_mcp.logic.plan_token import (
    PLAN_TOKEN_PURPOSE,
    PlanClaims,
    PlanTokenError,
    canonical_parameters_hash,
    derive_key,
    issue_plan_token,
    verify_plan_token,
)
from iac_mcp.settings import Settings

ORG = "https://api.mypurecloud.com#dev"
KEY = derive_key("test secret", PLAN_TOKEN_PURPOSE)
ACC = "3f2a6c1e-acce-4e1e-9a7a-0123456789ab"
PARAMS = {"action_name": "Customer Lookup", "secure": "false", "api_password": "hunter2\"\\"}
NOW = 1_800_000_000.0


def _issue(key: bytes = KEY, parameters: dict[str, str] = PARAMS, ttl: float = 900) -> str:
    return issue_plan_token(
        key, dry_run_job_id="job-42", org=ORG, accelerator_id=ACC, parameters=parameters, ttl_seconds=ttl, now=NOW
    )


def _refusal(
    token: str, *, key: bytes = KEY, org: str = ORG, acc: str = ACC, parameters: dict[str, str] = PARAMS, now: float = NOW
) -> PlanTokenError:
    with pytest.raises(PlanTokenError) as caught:
        verify_plan_token(key, token, org=org, accelerator_id=acc, parameters=parameters, now=now)
    assert str(caught.value) == caught.value.message and "dry run" in caught.value.message
    return caught.value


def test_round_trip() -> None:
    claims = verify_plan_token(KEY, _issue(), org=ORG, accelerator_id=ACC, parameters=dict(reversed(PARAMS.items())), now=NOW + 1)
    assert claims == PlanClaims(
        dry_run_job_id="job-42", org=ORG, accelerator_id=ACC, parameters_hash=canonical_parameters_hash(PARAMS), expires_at=NOW + 900
    )


def test_parameter_values_are_not_in_the_token() -> None:
    payload = base64.urlsafe_b64decode(_issue().split(".")[0] + "==")
    assert "hunter2" not in payload.decode() and "Customer" not in payload.decode()
    assert set(json.loads(payload)) == {"v", "job", "org", "acc", "params", "exp"}


def test_canonical_hash_is_order_independent_and_value_sensitive() -> None:
    assert canonical_parameters_hash({"a": "1", "b": "2"}) == canonical_parameters_hash({"b": "2", "a": "1"})
    assert canonical_parameters_hash({"a": "1"}) != canonical_parameters_hash({"a": "1 "})
    # compact, sorted, UTF-8 JSON: pinned so that other implementations can match it
    assert canonical_parameters_hash({"b": "é", "a": "1"}) == hashlib.sha256('{"a":"1","b":"é"}'.encode()).hexdigest()


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "é.é", "!!!.???", "eyJ2IjoxfQ.c2hvcnQ", "eyJ2IjoxfQ==." + "A" * 43, " " + "x" * 10],
)
def test_malformed(token: str) -> None:
    assert _refusal(token).reason == "malformed"


def test_signed_garbage_payload_is_malformed() -> None:
    payload = b'{"v":2,"job":"j"}'
    mac = hmac.new(KEY, payload, hashlib.sha256).digest()
    token = b".".join(base64.urlsafe_b64encode(part).rstrip(b"=") for part in (payload, mac)).decode()
    assert _refusal(token).reason == "malformed"


def test_other_key_is_tampered() -> None:
    error = _refusal(_issue(key=derive_key("another secret", PLAN_TOKEN_PURPOSE)))
    assert error.reason == "tampered"


def test_swapped_signature_is_tampered() -> None:
    a, b = _issue(), _issue(parameters={"x": "1"})
    assert _refusal(a.split(".")[0] + "." + b.split(".")[1]).reason == "tampered"


def test_expiry_boundary() -> None:
    token = _issue(ttl=60)
    assert verify_plan_token(KEY, token, org=ORG, accelerator_id=ACC, parameters=PARAMS, now=NOW + 59.999).dry_run_job_id == "job-42"
    error = _refusal(token, now=NOW + 60)
    assert error.reason == "expired" and "run a new dry run" in error.message


def test_a_plan_of_one_org_does_not_back_a_run_in_another() -> None:
    error = _refusal(_issue(), org="https://api.mypurecloud.com#prod")
    assert error.reason == "other_org" and "another org" in error.message


def test_other_accelerator() -> None:
    error = _refusal(_issue(), acc="other-acc")
    assert error.reason == "other_accelerator" and "other-acc" in error.message


def test_parameters_changed() -> None:
    error = _refusal(_issue(), parameters={**PARAMS, "secure": "true"})
    assert error.reason == "parameters_changed"
    assert error.message == "the parameters changed since the plan: run a new dry run with these parameters and use its plan_token"


def test_check_order() -> None:
    token = _issue(ttl=1)
    # expired, other accelerator and other parameters at once: expiry is reported first
    assert _refusal(token, acc="x", parameters={}, now=NOW + 5).reason == "expired"
    assert _refusal(token, acc="x", parameters={}).reason == "other_accelerator"
    # tampering is reported before expiry
    assert _refusal(token, key=b"k" * 32, now=NOW + 5).reason == "tampered"


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_bit_flip_is_refused(data: st.DataObject) -> None:
    token = _issue()
    index = data.draw(st.integers(0, len(token) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = token[:index] + chr(ord(token[index]) ^ (1 << bit)) + token[index + 1 :]
    assert _refusal(flipped).reason in {"malformed", "tampered"}


def test_padding_or_trailing_characters_are_refused() -> None:
    payload, mac = _issue().split(".")
    for variant in (payload + "=." + mac, payload + "." + mac + "=", payload + "." + mac + "\n"):
        assert _refusal(variant).reason == "malformed"


# --- Keys ----------------------------------------------------------------------------


def test_derive_key_is_rfc5869_hkdf_sha256() -> None:
    # RFC 5869 test case 3 (empty salt, empty info), first 32 bytes of the OKM
    okm = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
    assert derive_key(b"\x0b" * 22, "").hex() == okm


def test_derive_key_separates_purposes_and_accepts_str_or_bytes() -> None:
    assert len(KEY) == 32
    assert derive_key("s", "a") != derive_key("s", "b")
    assert derive_key("sé", "a") == derive_key("sé".encode(), "a")


def test_the_signing_key_comes_from_the_settings() -> None:
    secret = "test-secret-that-is-long-enough-for-a-key"
    assert Settings(signing_key=secret).plan_signing_key() == derive_key(secret, PLAN_TOKEN_PURPOSE)
    random_a, random_b = Settings().plan_signing_key(), Settings(signing_key="").plan_signing_key()
    assert len(random_a) == len(random_b) == 32 and random_a != random_b
