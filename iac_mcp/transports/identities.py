"""Who a caller of the HTTP server is: the principal the audit trail and the per-principal limits name.

Three kinds of principal never collide, because their spellings cannot overlap:
- a named bearer token is its name, `[A-Za-z0-9._@-]{1,64}`, never starting with `token-`;
- an unnamed bearer token is its fingerprint, `token-` and 12 hex digits;
- an OAuth access token is `oauth:` and its subject (`:` is in no token name).
Pure: no I/O, no mcp, so the settings can use it to check a token file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

TOKEN_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
"""What a bearer token's name may be: safe in logs, audit records and file names."""

FINGERPRINT_PREFIX = "token-"
"""Unnamed tokens are named by fingerprint; no configured name may start like one."""

OAUTH_PREFIX = "oauth:"
"""OAuth principals; `:` is in no token name, so a subject cannot pass for a named token."""

_SAFE_SUBJECT = re.compile(r"[A-Za-z0-9._@|+=-]{1,128}")
_SUBJECT_HASH_DIGITS = 16


def fingerprint(token: str) -> str:
    """A stable, non-secret name for a token (the same on every replica).

    It is the principal of an unnamed token, and what may appear in logs; the token itself never does.
    """
    return FINGERPRINT_PREFIX + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class NamedToken:
    """A bearer token and the principal it authenticates; the token is hidden from `repr`."""

    name: str
    token: str = field(repr=False)

    @classmethod
    def unnamed(cls, token: str) -> NamedToken:
        return cls(fingerprint(token), token)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a token, or None when it can."""
    if not TOKEN_NAME.fullmatch(name):
        return "a token name must be 1 to 64 of the characters A-Z a-z 0-9 . _ @ -"
    if name.startswith(FINGERPRINT_PREFIX):
        return f"a token name must not start with {FINGERPRINT_PREFIX!r} (unnamed tokens are named so)"
    return None


def oauth_principal(subject: str) -> str:
    """The principal of an OAuth subject: `oauth:` and the subject when it is plain and short;
    otherwise its safe characters, `~` and a hash of the whole, so no two subjects share one."""
    if _SAFE_SUBJECT.fullmatch(subject):
        return OAUTH_PREFIX + subject
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:_SUBJECT_HASH_DIGITS]
    readable = "".join(ch for ch in subject if _SAFE_SUBJECT.fullmatch(ch))[:48]
    return f"{OAUTH_PREFIX}{readable}~{digest}"
