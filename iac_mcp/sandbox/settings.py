"""Configuration of the embedded sandbox.

One dataclass, so tests, benchmarks and the CLI build a sandbox the same way. The
client pair defaults are documented and harmless: the sandbox only ever listens on
127.0.0.1 and holds no real data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DEFAULT_CLIENT_ID = "iac-mcp-sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"

HistoryShape = Literal["listing", "job", "array"]
HISTORY_SHAPES: tuple[HistoryShape, ...] = ("listing", "job", "array")
ValidateAt = Literal["post", "plan"]
VALIDATE_AT: tuple[ValidateAt, ...] = ("post", "plan")


@dataclass
class SandboxSettings:
    """How the sandbox behaves. Every field has a default that suits tests and demos."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    token_lifetime: float = 86400
    """Seconds a token stays valid (Genesys' default is 24 h)."""
    job_duration: float = 3.0
    """Simulated seconds from Created to a terminal status; 0 = terminal at the first read."""
    catalog_dirs: list[Path] = field(default_factory=list)
    """Directories whose `*.json` specs are added to the built-in catalogue."""
    builtin_catalog: bool = True
    missing_permissions: frozenset[str] = frozenset()
    """Permissions the OAuth client lacks, on top of `client_permissions`."""
    client_permissions: frozenset[str] | None = None
    """Every permission the OAuth client's role grants; None grants all. Routes need theirs
    (403 otherwise); a job needs every permission its spec lists (its Terraform run fails otherwise)."""
    rate_limit_per_minute: int = 300
    """Requests per token in any sliding 60 s window (Genesys: 300 per client-credentials token)."""
    seed: int = 0
    """Seeds job ids and probabilistic faults, so a run replays exactly."""
    clock: Callable[[], float] = time.monotonic
    """Seconds, monotonic. Inject a fake to drive token expiry, rate limits and job progress."""
    ansi_colour: bool = False
    """Colour job results like a terminal Terraform run, to exercise ANSI-stripping parsers."""
    history_shape: HistoryShape = "listing"
    """How `GET /jobs` answers: `{"entities": [...]}`, the latest job alone (as every SDK
    declares), or a bare array. Genesys' real shape is undocumented."""
    validate_at: ValidateAt = "post"
    """`post`: bad parameters get a 400; `plan`: the POST is accepted and the job fails in plan."""

    def __post_init__(self) -> None:
        if self.history_shape not in HISTORY_SHAPES:
            raise ValueError(f"history_shape must be one of {', '.join(HISTORY_SHAPES)}")
        if self.validate_at not in VALIDATE_AT:
            raise ValueError(f"validate_at must be one of {', '.join(VALIDATE_AT)}")

    def holds(self, permission: str) -> bool:
        """Whether the OAuth client has `permission`."""
        granted = self.client_permissions is None or permission in self.client_permissions
        return granted and permission not in self.missing_permissions
