"""The sandbox's live state, reachable as `app.state.sandbox` so tests can inspect it.

Everything that changes while the sandbox runs lives here: issued tokens, jobs, request
counts per route, rate-limit windows and the fault plan. Routes stay thin.
"""

from __future__ import annotations

import math
import random
import secrets
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from iac_mcp.sandbox.catalog import BUILTIN_DIR, CatalogEntry, load_catalog
from iac_mcp.sandbox.faults import FaultPlan
from iac_mcp.sandbox.jobs import Job, planned_outcome, wall_time
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.sandbox.validation import Problem

RATE_WINDOW = 60.0
_USER_NAMESPACE = uuid.UUID("7d0c4a8e-2b6f-4c1a-8e3d-9f5b1a2c3d4e")


class SandboxState:
    """Tokens, jobs, counters and faults of one sandbox."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        directories = ([BUILTIN_DIR] if settings.builtin_catalog else []) + list(settings.catalog_dirs)
        self.catalog: dict[str, CatalogEntry] = load_catalog(directories)
        self.faults = FaultPlan(settings.seed)
        self.jobs: dict[str, Job] = {}
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        """Token requests answered with a token."""
        self.requests: Counter[str] = Counter()
        """Requests per route name (see `faults.ROUTES`), faulted ones included."""
        self._windows: dict[str, deque[float]] = {}
        self._ids = random.Random(settings.seed)
        self._start_clock = settings.clock()
        self._start_wall = datetime.now(UTC)

    @property
    def user_id(self) -> str:
        """The user id Genesys reports as `submittedBy` for this OAuth client."""
        return str(uuid.uuid5(_USER_NAMESPACE, self.settings.client_id))

    @property
    def jobs_created(self) -> int:
        """How many jobs exist: compare with what a client reports after dropped answers."""
        return len(self.jobs)

    def now(self) -> float:
        return self.settings.clock()

    def issue_token(self) -> str:
        """A fresh random bearer token valid for `token_lifetime` seconds."""
        token = secrets.token_urlsafe(32)
        self.tokens[token] = self.now() + self.settings.token_lifetime
        self.token_requests += 1
        return token

    def token_state(self, token: str) -> Literal["valid", "expired", "unknown"]:
        """Whether a bearer token works, ran out (`credentials.expired`) or was never issued."""
        expiry = self.tokens.get(token)
        if expiry is None:
            return "unknown"
        return "valid" if self.now() < expiry else "expired"

    def rate_limited(self, token: str) -> int | None:
        """Record a request for `token`; return the Retry-After seconds if it is over the limit."""
        now = self.now()
        window = self._windows.setdefault(token, deque())
        while window and window[0] <= now - RATE_WINDOW:
            window.popleft()
        if len(window) >= self.settings.rate_limit_per_minute:
            return max(1, math.ceil(window[0] + RATE_WINDOW - now))
        window.append(now)
        return None

    def create_job(self, entry: CatalogEntry, dry_run: bool, values: dict[str, str], problems: Sequence[Problem] = ()) -> Job:
        """Record a new job; its outcome is fixed now, from its parameters, their problems and the permissions."""
        now = self.now()
        missing = [p for p in entry.spec.permissions if not self.settings.holds(p)]
        job = Job(
            id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)),
            sequence=len(self.jobs),
            entry=entry,
            dry_run=dry_run,
            values=dict(values),
            submitted_at=now,
            date_submitted=wall_time(self._start_wall, self._start_clock, now),
            submitted_by=self.user_id,
            outcome=planned_outcome(entry, values, dry_run, problems=problems, missing_permissions=missing),
        )
        self.jobs[job.id] = job
        return job
