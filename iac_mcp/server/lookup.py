"""Short-lived lookups for completions: the catalogue's ids and names, recent job ids.

A completion request arrives on every keystroke, while paging through the catalogue
costs one request per 100 accelerators out of a 300 requests/minute budget. So the
catalogue index is fetched at most once per TTL, recent jobs at most once per a few
seconds, and concurrent keystrokes share one fetch.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.errors import GenesysError

T = TypeVar("T")

CATALOGUE_PAGE_SIZE = 100
CATALOGUE_MAX_PAGES = 100
"""At most 10,000 accelerators are indexed: a bound on one refresh (a third of a minute's
request budget), far above the hundreds Genesys publishes today."""

RECENT_JOBS = 100
"""Job ids offered for completion: the newest ones, one request's worth."""


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    name: str


class TtlValue(Generic[T]):
    """A value fetched on first use and again once `ttl` seconds have passed.

    A failed fetch keeps the previous value (or `empty`) and is retried after
    `retry_after` seconds, so an outage does not turn every keystroke into a request.
    """

    def __init__(self, *, ttl: float, empty: T, retry_after: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._retry_after = retry_after
        self._clock = clock
        self._value = empty
        self._expires = float("-inf")
        self._lock = anyio.Lock()

    async def get(self, fetch: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:
            now = self._clock()
            if now >= self._expires:
                try:
                    self._value = await fetch()
                    self._expires = now + self._ttl
                except GenesysError:
                    self._expires = now + self._retry_after
            return self._value


async def fetch_catalogue(client: IacClient) -> tuple[CatalogueItem, ...]:
    """Every accelerator's id and name, paging 100 at a time (bounded by CATALOGUE_MAX_PAGES)."""
    items: list[CatalogueItem] = []
    for page_number in range(1, CATALOGUE_MAX_PAGES + 1):
        listing = await client.list_accelerators(page_size=CATALOGUE_PAGE_SIZE, page_number=page_number)
        items.extend(CatalogueItem(id=m.id, name=m.name) for m in listing.entities)
        last_page = listing.page_count if listing.page_count is not None else page_number
        if not listing.entities or page_number >= last_page:
            break
    return tuple(items)


async def fetch_recent_job_ids(client: IacClient) -> tuple[tuple[str, str], ...]:
    """(job id, accelerator id) of the newest jobs, newest first."""
    jobs = await client.list_jobs(max_results=RECENT_JOBS, sort_by="dateSubmitted", sort_order="desc")
    return tuple((job.id, job.accelerator_id or "") for job in jobs[:RECENT_JOBS])


class Lookups:
    """The cached lookups of one server process."""

    def __init__(
        self, *, catalogue_ttl: float = 300.0, jobs_ttl: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._catalogue: TtlValue[tuple[CatalogueItem, ...]] = TtlValue(ttl=catalogue_ttl, empty=(), clock=clock)
        self._jobs: TtlValue[tuple[tuple[str, str], ...]] = TtlValue(ttl=jobs_ttl, empty=(), clock=clock)

    async def catalogue(self, client: IacClient) -> tuple[CatalogueItem, ...]:
        return await self._catalogue.get(lambda: fetch_catalogue(client))

    async def recent_jobs(self, client: IacClient) -> tuple[tuple[str, str], ...]:
        return await self._jobs.get(lambda: fetch_recent_job_ids(client))
