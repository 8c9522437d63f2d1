"""Plan tokens: a signed proof that a dry run succeeded, required by the real run.

The server keeps no state between calls, so the token carries the claim itself: which
dry-run job, which accelerator, a hash of the parameters, and an expiry, signed with
HMAC-SHA256. A real run presents it to show that exactly this change was planned. Parameter
values appear only as a hash, so sensitive values never travel in clear.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

PLAN_TOKEN_PURPOSE = "iac-mcp plan token v1"
SIGNING_KEY_ENV = "IAC_MCP_SIGNING_KEY"
_VERSION = 2
_MAC_SIZE = hashlib.sha256().digest_size

RefusalReason = Literal["malformed", "tampered", "expired", "other_org", "other_accelerator", "parameters_changed"]


class PlanClaims(BaseModel):
    """What a valid plan token vouches for."""

    dry_run_job_id: str
    org: str
    accelerator_id: str
    parameters_hash: str
    expires_at: float


class PlanTokenError(Exception):
    """A plan token was refused; `reason` is machine-readable, the message says what to do next."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason
        self.message = message


# --- Keys ----------------------------------------------------------------------------


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (HKDF-SHA256, RFC 5869, empty salt, info = purpose).

    One configured secret can then feed several uses without one key serving two of them.
    """
    material = secret.encode() if isinstance(secret, str) else secret
    prk = hmac.new(b"\x00" * _MAC_SIZE, material, hashlib.sha256).digest()
    return hmac.new(prk, purpose.encode() + b"\x01", hashlib.sha256).digest()


# --- Tokens --------------------------------------------------------------------------


def canonical_parameters_hash(parameters: Mapping[str, str]) -> str:
    """SHA-256 hex of the parameters as canonical JSON, so key order does not matter.

    Hash the wire values after defaults are applied: that is what the job runs with.
    """
    canonical = json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def issue_plan_token(
    key: bytes,
    *,
    dry_run_job_id: str,
    org: str,
    accelerator_id: str,
    parameters: Mapping[str, str],
    ttl_seconds: float,
    now: float,
) -> str:
    """A token for a successful dry run in `org`, valid for `ttl_seconds` from `now` (epoch seconds)."""
    payload = json.dumps(
        {
            "v": _VERSION,
            "job": dry_run_job_id,
            "org": org,
            "acc": accelerator_id,
            "params": canonical_parameters_hash(parameters),
            "exp": now + ttl_seconds,
        },
        separators=(",", ":"),
    ).encode()
    return _b64encode(payload) + "." + _b64encode(_mac(key, payload))


def verify_plan_token(
    key: bytes,
    token: str,
    *,
    org: str,
    accelerator_id: str,
    parameters: Mapping[str, str],
    now: float,
) -> PlanClaims:
    """The claims of a token that allows this real run; raises PlanTokenError otherwise.

    Checks run in a fixed order (malformed, tampered, expired, org, accelerator, parameters),
    so the first problem reported is the most fundamental one.
    """
    payload, mac = _split(token)
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise PlanTokenError(
            "tampered",
            "the plan_token was not issued by this server or was altered (a server restart without "
            f"{SIGNING_KEY_ENV} also invalidates tokens): run a new dry run and use its plan_token",
        )
    claims = _claims(payload)
    if now >= claims.expires_at:
        raise PlanTokenError(
            "expired",
            f"the plan_token expired {now - claims.expires_at:.0f} s ago: run a new dry run and use its plan_token promptly",
        )
    if claims.org != org:
        raise PlanTokenError(
            "other_org",
            "the plan_token is for another org: a plan proves a change only in the org it ran in. Run a dry run "
            "in this org and use its plan_token",
        )
    if claims.accelerator_id != accelerator_id:
        raise PlanTokenError(
            "other_accelerator",
            f"the plan_token is for accelerator {claims.accelerator_id!r}, not {accelerator_id!r}: "
            f"run a dry run of {accelerator_id!r} and use its plan_token",
        )
    if not hmac.compare_digest(claims.parameters_hash, canonical_parameters_hash(parameters)):
        raise PlanTokenError(
            "parameters_changed",
            "the parameters changed since the plan: run a new dry run with these parameters and use its plan_token",
        )
    return claims


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _malformed(detail: str) -> PlanTokenError:
    return PlanTokenError(
        "malformed",
        f"the plan_token is not a valid plan token ({detail}): pass the plan_token exactly as the "
        "dry run returned it, or run a new dry run and use its plan_token",
    )


def _b64decode(text: str) -> bytes:
    """Strict base64url: only the canonical encoding of some bytes is accepted.

    Lenient decoding would accept several spellings of one token (padding, unused low bits).
    """
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _malformed("bad base64") from exc
    if _b64encode(data) != text:
        raise _malformed("bad base64")
    return data


def _split(token: str) -> tuple[bytes, bytes]:
    if not isinstance(token, str) or not token.isascii() or token.count(".") != 1:
        raise _malformed("expected two base64url parts joined by a dot")
    payload_text, mac_text = token.split(".")
    payload, mac = _b64decode(payload_text), _b64decode(mac_text)
    if not payload or len(mac) != _MAC_SIZE:
        raise _malformed("wrong part sizes")
    return payload, mac


def _claims(payload: bytes) -> PlanClaims:
    """The claims of an authentic payload; malformed only if a key holder signed something else."""
    try:
        data: Any = json.loads(payload)
    except ValueError as exc:
        raise _malformed("payload is not JSON") from exc
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise _malformed("unknown token version")
    job, org, acc, params, exp = data.get("job"), data.get("org"), data.get("acc"), data.get("params"), data.get("exp")
    if not (isinstance(job, str) and isinstance(org, str) and isinstance(acc, str) and isinstance(params, str)):
        raise _malformed("missing claims")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise _malformed("missing expiry")
    return PlanClaims(dry_run_job_id=job, org=org, accelerator_id=acc, parameters_hash=params, expires_at=float(exp))
