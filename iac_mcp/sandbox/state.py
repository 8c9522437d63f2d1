"""The sandbox's live state, reachable as `app.state.sandbox` so tests can inspect it.

Everything that changes while the sandbox runs lives here: issued tokens (each bound to
an org, and to a user for a sign-in), jobs, sign-in forms and authorization codes,
request counts per route, rate-limit windows and the fault plan. Routes stay thin.
"""

from __future__ import annotations

import hmac
import math
import random
import secrets
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from iac_mcp.sandbox.catalog import BUILTIN_DIR, CatalogEntry, load_catalog
from iac_mcp.sandbox.faults import FaultPlan
from iac_mcp.sandbox.jobs import Job, planned_outcome, wall_time
from iac_mcp.sandbox.orgs import client_user_id, missing_objects, user_id
from iac_mcp.sandbox.settings import SandboxOrg, SandboxSettings, SandboxUser
from iac_mcp.sandbox.validation import Problem

RATE_WINDOW = 60.0


@dataclass(frozen=True)
class Grant:
    """What a bearer token stands for: an org's client, or a user signed in to the org."""

    org: SandboxOrg
    user: SandboxUser | None
    expires: float

    @property
    def subject_id(self) -> str:
        """The user id Genesys records for this token's actions (`submittedBy`)."""
        return user_id(self.user) if self.user is not None else client_user_id(self.org.client_id)


@dataclass(frozen=True)
class SignInRequest:
    """A checked `/oauth/authorize` request: the org, the client, where the code goes, the challenge."""

    org: SandboxOrg
    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str


@dataclass(frozen=True)
class LoginForm:
    """A login form shown to one browser: `browser` is the cookie value its post must carry."""

    request: SignInRequest
    browser: str
    expires: float


@dataclass(frozen=True)
class AuthCode:
    """An authorization code: single use, short-lived, bound to its request's client, redirect and challenge."""

    request: SignInRequest
    user: SandboxUser
    expires: float


class SandboxState:
    """Tokens, jobs, sign-ins, counters and faults of one sandbox."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        directories = ([BUILTIN_DIR] if settings.builtin_catalog else []) + list(settings.catalog_dirs)
        self.catalog: dict[str, CatalogEntry] = load_catalog(directories)
        self.faults = FaultPlan(settings.seed)
        self.jobs: dict[str, Job] = {}
        """Every org's jobs; routes show a token only its own org's."""
        self.tokens: dict[str, Grant] = {}
        self.token_requests = 0
        """Token requests answered with a token."""
        self.requests: Counter[str] = Counter()
        """Requests per route name (see `faults.ROUTES`), faulted ones included."""
        self.login_forms: dict[str, LoginForm] = {}
        """Sign-in forms shown and not yet posted, by their one-time form token."""
        self.codes: dict[str, AuthCode] = {}
        """Authorization codes issued and not yet presented."""
        self.redeemed: dict[str, str | None] = {}
        """Codes already presented, with the token each bought (revoked if the code comes back)."""
        self._windows: dict[str, deque[float]] = {}
        self._ids = random.Random(settings.seed)
        self._start_clock = settings.clock()
        self._start_wall = datetime.now(UTC)

    @property
    def default_org(self) -> SandboxOrg:
        return self.settings.served_orgs[0]

    @property
    def user_id(self) -> str:
        """The user id Genesys reports as `submittedBy` for the first org's OAuth client."""
        return client_user_id(self.default_org.client_id)

    @property
    def jobs_created(self) -> int:
        """How many jobs exist, in every org: compare with what a client reports after dropped answers."""
        return len(self.jobs)

    def now(self) -> float:
        return self.settings.clock()

    def org_of_client(self, client_id: str) -> SandboxOrg | None:
        """The org one of whose clients (confidential or sign-in) is `client_id`."""
        return next((o for o in self.settings.served_orgs if client_id in o.client_ids), None)

    def confidential_client(self, client_id: str, secret: str) -> SandboxOrg | None:
        """The org whose confidential client this id and secret are (compared in constant time)."""
        for org in self.settings.served_orgs:
            same_id = hmac.compare_digest(client_id.encode(), org.client_id.encode())
            if same_id & hmac.compare_digest(secret.encode(), org.client_secret.encode()):
                return org
        return None

    def user(self, org: SandboxOrg, username: str, password: str) -> SandboxUser | None:
        """The org's user with this password, or None (no hint which of the two was wrong)."""
        for candidate in self.settings.served_users:
            if candidate.org == org.name and candidate.username == username:
                return candidate if hmac.compare_digest(password.encode(), candidate.password.encode()) else None
        return None

    def issue_token(self, org: SandboxOrg | None = None, user: SandboxUser | None = None) -> str:
        """A fresh random bearer token for `org`'s client (the first org's by default), or a user."""
        token = secrets.token_urlsafe(32)
        self.tokens[token] = Grant(org or self.default_org, user, self.now() + self.settings.token_lifetime)
        self.token_requests += 1
        return token

    def token_state(self, token: str) -> Literal["valid", "expired", "unknown"]:
        """Whether a bearer token works, ran out (`credentials.expired`) or was never issued."""
        grant = self.tokens.get(token)
        if grant is None:
            return "unknown"
        return "valid" if self.now() < grant.expires else "expired"

    def holds(self, grant: Grant, permission: str) -> bool:
        """Whether the token's subject has `permission`: the client's role, or the user's own."""
        if grant.user is not None:
            return permission in grant.user.permissions
        return self.settings.holds(permission)

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

    def create_job(
        self,
        entry: CatalogEntry,
        dry_run: bool,
        values: dict[str, str],
        problems: Sequence[Problem] = (),
        *,
        grant: Grant | None = None,
    ) -> Job:
        """Record a new job for `grant` (the first org's client by default); its outcome is fixed
        now, from its parameters, their problems, the permissions and the org's objects."""
        now = self.now()
        grant = grant or Grant(self.default_org, None, math.inf)
        missing = [p for p in entry.spec.permissions if not self.holds(grant, p)]
        job = Job(
            id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)),
            sequence=len(self.jobs),
            org=grant.org.name,
            entry=entry,
            dry_run=dry_run,
            values=dict(values),
            submitted_at=now,
            date_submitted=wall_time(self._start_wall, self._start_clock, now),
            submitted_by=grant.subject_id,
            outcome=planned_outcome(
                entry,
                values,
                dry_run,
                problems=problems,
                missing_permissions=missing,
                missing_objects=missing_objects(grant.org.name, entry.form, values),
            ),
        )
        self.jobs[job.id] = job
        return job

    def org_jobs(self, org: SandboxOrg) -> list[Job]:
        return [job for job in self.jobs.values() if job.org == org.name]
