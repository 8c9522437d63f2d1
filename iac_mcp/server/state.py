"""What the MCP server keeps for the life of a process: the client and two small caches."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.errors import GenesysError
from iac_mcp.genesys.models import AcceleratorSpecification
from iac_mcp.logic.forms import form_from_spec
from iac_mcp.server.lookup import Lookups

Mode = Literal["read-only", "dry-run-only", "apply"]
MODES: tuple[Mode, ...] = ("read-only", "dry-run-only", "apply")


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

    async def sensitive_names(self, client: IacClient, accelerator_id: str | None) -> frozenset[str]:
        """The accelerator's sensitive parameter names; empty when its spec cannot be read.

        Used to mask job output, which must still be readable when the spec is gone:
        the secret values this process saw are masked regardless.
        """
        if not accelerator_id:
            return frozenset()
        try:
            return form_from_spec(await self.get(client, accelerator_id)).sensitive_names
        except GenesysError:
            return frozenset()


class RecentSecrets:
    """Sensitive values submitted through this process, kept to mask them in job output.

    Job output is fetched later, possibly long after the submission; remembering the
    values (bounded, in memory only) lets get-job mask them even where Terraform printed
    them verbatim. Assignment-style masking by parameter name covers other processes.
    """

    def __init__(self, max_values: int = 512) -> None:
        self._max = max_values
        self._values: OrderedDict[str, None] = OrderedDict()

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if value:
                self._values[value] = None
                self._values.move_to_end(value)
        while len(self._values) > self._max:
            self._values.popitem(last=False)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._values))


@dataclass
class ServerState:
    """Shared by every tool call of one server process (the MCP lifespan context)."""

    client: IacClient
    mode: Mode = "apply"
    signing_key: bytes = b""
    specs: SpecCache = field(default_factory=SpecCache)
    secrets: RecentSecrets = field(default_factory=RecentSecrets)
    lookups: Lookups = field(default_factory=Lookups)
    reported_jobs: OrderedDict[str, None] = field(default_factory=OrderedDict)
    submitter_id: str | None = None
    """The Genesys user our OAuth client submits as, learnt from the first job it creates:
    reconciling a lost answer then ignores other users' jobs of the same accelerator."""

    def claim_job(self, job_id: str, *, keep: int = 4096) -> bool:
        """Record a job as reported to a caller; False if it already was.

        Reconciling an ambiguous submission must never hand the same job to two
        callers, or one real submission would be counted twice.
        """
        if job_id in self.reported_jobs:
            return False
        self.reported_jobs[job_id] = None
        while len(self.reported_jobs) > keep:
            self.reported_jobs.popitem(last=False)
        return True
