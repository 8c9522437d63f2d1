"""What the MCP server keeps for the life of a process: the client, the ledger, the caches,
and the job reader that masks every job it hands out."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.errors import GenesysError
from iac_mcp.genesys.models import AcceleratorSpecification, InfrastructureascodeJob
from iac_mcp.ledger import Ledger
from iac_mcp.logic.forms import form_from_spec
from iac_mcp.logic.jobs import masked_job, withheld
from iac_mcp.server.lookup import Lookups
from iac_mcp.settings import Settings


class SpecCache:
    """Accelerator specs for a few minutes, so describe → submit → get-job fetch each once.

    Specs change only when Genesys publishes a new module version; a short TTL keeps
    them fresh enough while sparing the 300 requests/minute budget.
    """

    def __init__(self, *, ttl: float = 300.0, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str | None], tuple[float, AcceleratorSpecification]] = OrderedDict()

    async def get(self, client: IacClient, accelerator_id: str, language: str | None = None) -> AcceleratorSpecification:
        key = (accelerator_id, language)
        now = self._clock()
        hit = self._entries.get(key)
        if hit and hit[0] > now:
            self._entries.move_to_end(key)
            return hit[1]
        spec = await client.get_accelerator(accelerator_id, preferred_language=language)
        self._entries[key] = (now + self._ttl, spec)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return spec

    async def sensitive_names(self, client: IacClient, accelerator_id: str | None) -> frozenset[str] | None:
        """The accelerator's sensitive parameter names; None when they cannot be known."""
        if not accelerator_id:
            return None
        try:
            return form_from_spec(await self.get(client, accelerator_id)).sensitive_names
        except GenesysError:
            return None


class RecentSecrets:
    """Sensitive values submitted through this process, kept to mask them in job output.

    Job output is fetched later, possibly long after the submission; remembering the
    values (bounded, in memory only) lets get-job mask them even where Terraform printed
    them verbatim. Assignment-style masking by parameter name covers other processes.
    """

    MIN_LENGTH = 6
    """Shorter values are never used as masks: they would corrupt ordinary words ("queue")."""

    def __init__(self, max_values: int = 512) -> None:
        self._max = max_values
        self._values: OrderedDict[str, None] = OrderedDict()

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if len(value) >= self.MIN_LENGTH:
                self._values[value] = None
                self._values.move_to_end(value)
        while len(self._values) > self._max:
            self._values.popitem(last=False)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._values))


class JobReader:
    """Every job the server shows passes through here, masked, so no call site can forget.

    Masking needs the job's sensitive parameter names, from its accelerator's spec. When
    they cannot be known (the spec read failed, the accelerator is gone), the free text
    (output, rollback output, error message) is withheld rather than shown unmasked.
    """

    def __init__(self, client: IacClient, specs: SpecCache, secrets: RecentSecrets, ledger: Ledger) -> None:
        self._client = client
        self._specs = specs
        self._secrets = secrets
        self._ledger = ledger

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
        have passed; `on_status` hears each new status. Only the last read is masked."""
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
        if job.is_terminal and job.status:
            await self._ledger.record_job_status(self._client.config.api_base, job.id, job.status)
        return await self.masked(job)

    async def list(self, **filters: Any) -> list[InfrastructureascodeJob]:
        return [await self.masked(job) for job in await self._client.list_jobs(**filters)]

    async def masked(
        self, job: InfrastructureascodeJob, sensitive_names: frozenset[str] | None = None
    ) -> InfrastructureascodeJob:
        names = (
            sensitive_names
            if sensitive_names is not None
            else await self._specs.sensitive_names(self._client, job.accelerator_id)
        )
        if names is None:
            return withheld(job)
        return masked_job(job, secrets=self._secrets, sensitive_names=names)


@dataclass(frozen=True)
class Services:
    """What every tool call of one server process shares (the MCP lifespan context)."""

    client: IacClient
    settings: Settings
    signing_key: bytes
    ledger: Ledger
    specs: SpecCache = field(default_factory=SpecCache)
    secrets: RecentSecrets = field(default_factory=RecentSecrets)
    lookups: Lookups = field(default_factory=Lookups)

    @cached_property
    def jobs(self) -> JobReader:
        return JobReader(self.client, self.specs, self.secrets, self.ledger)

    @property
    def org(self) -> str:
        """The org this server acts on, named by its API base."""
        return self.client.config.api_base


_current: ContextVar[Services | None] = ContextVar("iac_mcp_services", default=None)


async def bind_services(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware making the services reachable from handlers mcp calls without a Context.

    mcp 2.3 hands neither a completion handler nor a static resource the lifespan state, so
    it travels in a context variable for the one request.
    """
    token = _current.set(ctx.lifespan_context)
    try:
        return await call_next(ctx)
    finally:
        _current.reset(token)


def current_services() -> Services | None:
    return _current.get()
