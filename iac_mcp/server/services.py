"""What the MCP server keeps for the life of a process: the client, the ledger, the caches,
and the job reader that masks every job it hands out."""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.deadline import time_left, time_limit
from iac_mcp.genesys.errors import ConfigurationError, GenesysError
from iac_mcp.genesys.models import AcceleratorSpecification, InfrastructureascodeJob
from iac_mcp.genesys.pacing import sharing_as
from iac_mcp.logic.forms import form_from_spec
from iac_mcp.logic.jobs import WITHHELD_FOREIGN, masked_job, withheld
from iac_mcp.logic.orgs import OrgView
from iac_mcp.logic.text import plain
from iac_mcp.profiles import Profile
from iac_mcp.server.approvals import SANDBOX_SIGNIN_SUFFIX, ApprovalDesk, ApprovalOrg
from iac_mcp.server.lookup import Lookups
from iac_mcp.settings import Mode, Settings
from iac_mcp.telemetry import CURRENT_ORG

if TYPE_CHECKING:
    from iac_mcp.ledger import Ledger

log = logging.getLogger("iac_mcp")


class SpecCache:
    """Accelerator specs for a few minutes, so describe → submit → get-job fetch each once.

    Specs change only when Genesys publishes a new module version; a short TTL keeps
    them fresh enough while sparing the 300 requests/minute budget. Each spec's sensitive
    parameter names are kept beside it: every job shown is masked by them, and flattening
    the form again for each (list-jobs masks ten) cost more than the lookup.
    """

    def __init__(self, *, ttl: float = 300.0, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str | None], _CachedSpec] = OrderedDict()

    async def get(self, client: IacClient, accelerator_id: str, language: str | None = None) -> AcceleratorSpecification:
        return (await self._entry(client, accelerator_id, language)).spec

    async def _entry(self, client: IacClient, accelerator_id: str, language: str | None = None) -> _CachedSpec:
        key = (accelerator_id, language)
        now = self._clock()
        hit = self._entries.get(key)
        if hit and hit.expires > now:
            self._entries.move_to_end(key)
            return hit
        spec = await client.get_accelerator(accelerator_id, preferred_language=language)
        entry = self._entries[key] = _CachedSpec(now + self._ttl, spec, form_from_spec(spec).sensitive_names)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return entry

    def cached_sensitive_names(self, accelerator_id: str) -> frozenset[str] | None:
        """The sensitive parameter names of a spec read recently (any language), without I/O."""
        hit = next((entry for (spec_id, _), entry in self._entries.items() if spec_id == accelerator_id), None)
        return None if hit is None else hit.sensitive_names

    async def sensitive_names(self, client: IacClient, accelerator_id: str | None) -> frozenset[str] | None:
        """The accelerator's sensitive parameter names; None when they cannot be known."""
        if not accelerator_id:
            return None
        try:
            return (await self._entry(client, accelerator_id)).sensitive_names
        except GenesysError:
            return None


@dataclass(frozen=True)
class _CachedSpec:
    expires: float
    spec: AcceleratorSpecification
    sensitive_names: frozenset[str]


class JobSecrets:
    """Sensitive values submitted through this process, kept with the job they went into.

    Job output is fetched later, possibly long after the submission; remembering the
    values (bounded, in memory only) lets get-job mask them wherever Terraform printed
    them, under any attribute name. They mask that job only: used on other jobs, one
    caller's secret would mark where it occurs in another caller's output.
    """

    MIN_LENGTH = 6
    """Shorter values are never used as masks: they would corrupt ordinary words ("queue")."""

    def __init__(self, max_jobs: int = 1024) -> None:
        self._max = max_jobs
        self._jobs: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def add(self, job_id: str, values: Iterable[str]) -> None:
        kept = tuple(value for value in values if len(value) >= self.MIN_LENGTH)
        if not kept:
            return
        self._jobs[job_id] = kept
        self._jobs.move_to_end(job_id)
        while len(self._jobs) > self._max:
            self._jobs.popitem(last=False)

    def of(self, job_id: str) -> tuple[str, ...] | None:
        """The values submitted into this job, or None when this process did not submit it."""
        return self._jobs.get(job_id)


RECORDED_JOBS = 4096
"""How many jobs' final statuses a reader remembers having written (beyond that, one more UPDATE)."""
LAST_READ_SECONDS = 5.0
"""What a wait leaves of the call's time limit for its last read and the spec it masks with."""


class JobReader:
    """Every job the server shows passes through here, masked, so no call site can forget.

    Masking needs the job's sensitive parameter names, from its accelerator's spec. When
    they cannot be known (the spec read failed, the accelerator is gone), the free text
    (output, rollback output, error message) is withheld rather than shown unmasked.
    """

    def __init__(self, client: IacClient, specs: SpecCache, secrets: JobSecrets, ledger: Ledger, org_key: str) -> None:
        self._client = client
        self._specs = specs
        self._secrets = secrets
        self._ledger = ledger
        self._org = org_key
        self._recorded: OrderedDict[str, str] = OrderedDict()
        """Terminal statuses this process already wrote onto the audit trail, by job."""

    async def get(self, job_id: str, *, details: bool) -> InfrastructureascodeJob:
        """The job, masked; a final status is written onto its audit records when it is ours."""
        return await self._finished(await self._client.get_job(job_id, details=details))

    async def wait(
        self,
        job_id: str,
        *,
        details: bool,
        seconds: float,
        on_status: Callable[[str | None], Awaitable[None]],
    ) -> InfrastructureascodeJob:
        """Poll (backing off 1.5× from 0.5 s to 5 s) until the job is terminal or `seconds`
        have passed, leaving the call's time limit room for a last read; `on_status` hears
        each new status. Only the last read is masked."""
        left = time_left()
        if left is not None:
            seconds = min(seconds, left - LAST_READ_SECONDS)
        deadline = anyio.current_time() + seconds
        delay = 0.5
        last_status: str | None = None
        while True:
            job = await self._client.get_job(job_id, details=details)
            if job.status != last_status:
                last_status = job.status
                await on_status(job.status)
            remaining = deadline - anyio.current_time()
            if job.is_terminal or remaining <= 0:
                return await self._finished(job)
            await anyio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 5.0)

    async def _finished(self, job: InfrastructureascodeJob) -> InfrastructureascodeJob:
        if job.is_terminal and job.status and self._recorded.get(job.id) != job.status:
            await self._ledger.record_job_status(self._org, job.id, job.status)
            self._recorded[job.id] = job.status  # a terminal status is final: later reads write nothing
            while len(self._recorded) > RECORDED_JOBS:
                self._recorded.popitem(last=False)
        return await self.masked(job)

    async def list(self, **filters: Any) -> list[InfrastructureascodeJob]:
        jobs = await self._client.list_jobs(**filters)
        ours = await self._ledger.claimed(self._org, (job.id for job in jobs))
        return [await self.masked(job, ours=job.id in ours) for job in jobs]

    async def masked(
        self, job: InfrastructureascodeJob, sensitive_names: frozenset[str] | None = None, *, ours: bool | None = None
    ) -> InfrastructureascodeJob:
        """The job with its sensitive values masked, or its free text withheld when that
        cannot be guaranteed: the names are unknown, or the job has sensitive parameters
        and was submitted elsewhere (its values may be printed under any attribute name)."""
        names = (
            sensitive_names
            if sensitive_names is not None
            else await self._specs.sensitive_names(self._client, job.accelerator_id)
        )
        if names is None:
            return withheld(job)
        values = self._secrets.of(job.id)
        if values is None and names and not (ours if ours is not None else await self._ours(job.id)):
            return withheld(job, WITHHELD_FOREIGN)
        return masked_job(job, secrets=values or (), sensitive_names=names)

    async def _ours(self, job_id: str) -> bool:
        """Whether a submission through this ledger (from any replica) created the job."""
        return job_id in await self._ledger.claimed(self._org, [job_id])


class WaitSlots:
    """At most `per_caller` get-job waits running at once for each caller.

    A wait holds a request open and polls Genesys; beyond the cap a caller's job is read
    once instead, so one caller's sixty waits neither pile up nor eat the rate budget.
    """

    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._running: Counter[str] = Counter()

    @contextmanager
    def take(self, caller: str) -> Iterator[bool]:
        """Yields whether `caller` may wait now (and holds the slot for the block if so)."""
        if self._running[caller] >= self.per_caller:
            yield False
            return
        self._running[caller] += 1
        try:
            yield True
        finally:
            self._running[caller] -= 1
            if not self._running[caller]:
                del self._running[caller]


def org_key(api_base: str, profile: str) -> str:
    """The ledger's name for an org: its API host and the profile that reaches it."""
    return f"{api_base}#{profile}"


@dataclass(frozen=True)
class Org:
    """One org the server acts on (a profile): its client, its caches, its bounds.

    Each org has its own token, rate pacing, spec cache and remembered secrets; `key` is the
    ledger's name for it, so plans, claims and audit records of one org never serve another
    (orgs in one region share an API host, so the host alone would not tell them apart).
    """

    profile: Profile
    client: IacClient
    ledger: Ledger
    specs: SpecCache = field(default_factory=SpecCache)
    secrets: JobSecrets = field(default_factory=JobSecrets)
    lookups: Lookups = field(default_factory=Lookups)

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def mode(self) -> Mode:
        return self.profile.mode

    @property
    def key(self) -> str:
        return org_key(self.client.config.api_base, self.profile.name)

    @property
    def view(self) -> OrgView:
        return OrgView(name=self.profile.name, label=self.profile.label, api_base=self.client.config.api_base)

    @cached_property
    def jobs(self) -> JobReader:
        return JobReader(self.client, self.specs, self.secrets, self.ledger, self.key)

    @property
    def approval_org(self) -> ApprovalOrg:
        """What the approval desk needs of this org: its policy, and the OAuth client people
        sign in with (the profile's `approval_client_id`; for a sandbox org, its public
        sign-in client `<client_id>-signin`)."""
        profile, config = self.profile, self.client.config
        client_id = profile.approval_client_id
        if client_id is None and profile.genesys is None and config.client_id:
            client_id = config.client_id + SANDBOX_SIGNIN_SUFFIX
        return ApprovalOrg(
            key=self.key,
            profile=profile.name,
            label=profile.label,
            policy=profile.approval.value,
            config=config,
            client_id=client_id,
            webhook=profile.approval_webhook,
        )


@dataclass(frozen=True)
class Services:
    """What every tool call of one server process shares (the MCP lifespan context)."""

    orgs: Mapping[str, Org]
    default_org: str
    settings: Settings
    signing_key: bytes
    ledger: Ledger
    desk: ApprovalDesk
    """Approval requests and decisions, for profiles whose real runs need named approvers."""

    def at(self, name: str | None) -> Org:
        """The org a call names (the default when none), or a refusal listing those that exist."""
        org = self.orgs.get(name or self.default_org)
        if org is None:
            raise ToolError(
                f"There is no org (profile) named {plain(name or '')[:64]!r} on this server. Next: use one of "
                f"{', '.join(self.orgs)} (the default is {self.default_org}); only the operator can add profiles."
            )
        return org

    @property
    def default(self) -> Org:
        return self.orgs[self.default_org]

    @cached_property
    def waits(self) -> WaitSlots:
        return WaitSlots(self.settings.waits_per_caller)


class NotStarted(ToolError, ResourceError):
    """The services could not open: an `isError` result from a tool, an error a resource read
    shows (mcp withholds the message of any other exception raised there)."""


class Starting:
    """The lifespan state: the services once they are open, and the wait for them until then.

    Over stdio the server answers `initialize` and the listings while its ledger (SQLAlchemy
    alone takes 0.3 s to import) and clients open in the background (`in_background`); a
    request that uses them waits for them (`bind_services`). When they cannot open, each
    such request is refused with the reason, and nothing reaches Genesys.
    """

    def __init__(self, services: Services | None = None) -> None:
        self.services = services
        self.failure: str | None = None
        self._settled = anyio.Event()
        if services is not None:
            self._settled.set()

    async def settled(self) -> Services | None:
        """The services once they are open; None when they could not be. Once settled, this
        returns without yielding to the event loop (anyio's `Event.wait` always yields): it
        runs on every call."""
        if not self._settled.is_set():
            await self._settled.wait()
        return self.services

    def ready(self) -> Services:
        """The services, or the refusal that says why there are none."""
        if self.services is None:
            raise NotStarted(
                f"iac-mcp could not start: {self.failure or 'it has not finished starting.'} Nothing was sent to Genesys. "
                "Next: the operator fixes the configuration (`iac-mcp check` reports it) and restarts the server."
            )
        return self.services

    @classmethod
    @asynccontextmanager
    async def in_background(cls, open_services: Callable[[], AbstractAsyncContextManager[Services]]) -> AsyncIterator[Starting]:
        """Open the services in a task of their own, yielding at once; they close on exit."""
        starting = cls()
        closing = anyio.Event()

        async def keep_open() -> None:
            try:
                async with open_services() as services:
                    starting.services = services
                    starting._settled.set()
                    await closing.wait()
            except Exception as error:
                if starting._settled.is_set():
                    raise  # they opened, and failed later: as any lifespan's failure
                # a configuration error's message is written to be shown; any other's may hold anything
                starting.failure = str(error) if isinstance(error, ConfigurationError) else f"{type(error).__name__}."
                log.error("The server's ledger and clients did not open: %s", starting.failure)
                starting._settled.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(keep_open)
            try:
                yield starting
            finally:
                closing.set()


BOUNDED_METHODS = frozenset({"tools/call", "resources/read", "completion/complete"})
"""Requests that use the services and reach Genesys, and so run under the call's time limit
and its caller's share."""


_current: ContextVar[Starting | None] = ContextVar("iac_mcp_services", default=None)


async def bind_services(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: a request that uses the services waits for them to open, then has them as
    its lifespan context, and in a context variable: mcp 2.3 hands neither a completion
    handler nor a static resource the lifespan state. Other requests (`initialize`, the
    listings, notifications) never wait. When the services could not open, the request goes
    on without them, to be refused by `services` with the reason.
    """
    if ctx.method not in BOUNDED_METHODS:
        return await call_next(ctx)
    starting: Starting = ctx.lifespan_context
    services = await starting.settled()
    token = _current.set(starting)
    try:
        return await call_next(ctx if services is None else replace(ctx, lifespan_context=services))
    finally:
        _current.reset(token)


def current_services() -> Services | None:
    """The request's services (None outside a request), or the refusal saying why there are none."""
    starting = _current.get()
    return None if starting is None else starting.ready()


def principal() -> str:
    """Who is calling: the HTTP bearer token's name, or `stdio` for the local client."""
    token = get_access_token()
    return token.client_id if token is not None and token.client_id else "stdio"


async def bound_calls(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: a request that reaches Genesys gets the configured time limit, its
    requests count as its caller's share of the rate limit, and telemetry learns its org."""
    state = ctx.lifespan_context
    if ctx.method not in BOUNDED_METHODS or not isinstance(state, Services):
        return await call_next(ctx)
    arguments = (ctx.params or {}).get("arguments") or {}
    named = arguments.get("org") if isinstance(arguments, dict) else None
    org = named if isinstance(named, str) and named in state.orgs else state.default_org
    token = CURRENT_ORG.set(org)  # what telemetry labels the call with
    try:
        with time_limit(state.settings.call_time_limit), sharing_as(principal()):
            return await call_next(ctx)
    finally:
        CURRENT_ORG.reset(token)
