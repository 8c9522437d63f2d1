"""Bounded, jittered retries, and the one rule that matters most: a job submission that may
have reached Genesys is never sent again.

The official Python SDK resends a POST after a dropped connection, which can create a job
twice. Here a request is only resent when it is known not to have been processed: a
transport error raised while *connecting* (the request never left), or a 429 answer
(Genesys says it did not process it). Reads are also resent after 502/503/504 and any
transport error, because resending them is harmless.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import httpx

from iac_mcp.genesys.deadline import current_limit, shrink_timeouts, time_left
from iac_mcp.genesys.errors import CORRELATION_HEADER, RateBudgetSpent, TransportError, parse_retry_after
from iac_mcp.genesys.pacing import NoRoomInTime

logger = logging.getLogger("iac_mcp.genesys")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""Answers worth another try. Only 429 is retried for a job submission."""

_NEVER_SENT: tuple[type[httpx.TransportError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before a single byte of the request was written."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The total time spent sleeping never exceeds `max_total_wait`.

    `jitter` is the fraction of each backoff delay that may be taken off at random, so that
    clients throttled together do not come back together. `sleep` is injectable so tests
    need not wait.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_wait: float = 30.0
    jitter: float = 0.5
    sleep: Callable[[float], Awaitable[object]] = field(default=anyio.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_total_wait) < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("delays must be non-negative and jitter within [0, 1]")

    def backoff(self, retry: int) -> float:
        """The delay before the `retry`-th resend (1-based): exponential, capped, jittered."""
        delay = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return delay * (1 - self.jitter * random.random())

    def next_delay(self, attempt: int, waited: float, retry_after: float | None, time_left: float | None = None) -> float | None:
        """How long to sleep before attempt `attempt + 1`, or None to give up now.

        A `Retry-After` longer than the wait still allowed (by this policy, or by the time
        left to the operation) means giving up at once: the caller is better served by an
        immediate error that says how long to wait.
        """
        remaining = self.max_total_wait - waited
        if time_left is not None:
            remaining = min(remaining, time_left)
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= remaining else None
        if remaining <= 0:
            return None
        return min(self.backoff(attempt), remaining)


RESENDABLE = "iac_mcp.resendable"
"""Request extension: True when the request may be repeated after it reached the server
(reads, token requests). Anything else, a job submission above all, is sent once."""


def resendable(request: httpx.Request) -> bool:
    return bool(request.extensions.get(RESENDABLE, request.method in ("GET", "HEAD")))


def _untrusted_certificate(error: BaseException) -> bool:
    """Whether a transport error is a certificate that failed verification: it will fail again,
    and saying so beats four retries that end in a bare ConnectError."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _limit_note() -> str:
    """Why an attempt ended, when the operation's time limit ended it."""
    limit, left = current_limit(), time_left()
    if limit is None or left is None or left > SPENT:
        return ""
    return f" The call's time limit of {limit.seconds:g} s ran out."


SPENT = 0.05
"""Seconds left below which a timeout is the time limit's doing, not the upstream's."""


class RetryTransport(httpx.AsyncBaseTransport):
    """A transport layer that resends what is safe to resend, and nothing else.

    Returns the last HTTP answer, whatever its status. A transport error is raised as
    `TransportError`, whose `maybe_processed` says whether the request may have reached
    Genesys: the fact that forbids resending a job submission. Under a `time_limit`, each
    attempt's timeouts are cut to the time left and no retry starts once it is spent.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: RetryPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        again = resendable(request)
        method, path = request.method, request.url.path
        timeouts: dict[str, float | None] = dict(request.extensions.get("timeout", {}))
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            left = time_left()
            if left is not None:
                if left <= 0:
                    raise TransportError(f"{method} {path} was not sent.{_limit_note()}", maybe_processed=False)
                request.extensions["timeout"] = shrink_timeouts(timeouts, left)
            started = time.perf_counter()
            try:
                response = await self._inner.handle_async_request(request)
            except NoRoomInTime as exc:
                raise RateBudgetSpent(
                    f"{method} {path} was not sent: the rate limit ({exc.rate} requests in {exc.period:g} s) had no room "
                    "for it before the call's time limit ran out.",
                    retry_after=exc.retry_after,
                ) from exc
            except httpx.TransportError as exc:
                elapsed_ms = (time.perf_counter() - started) * 1000
                if _untrusted_certificate(exc):
                    raise TransportError(
                        f"The TLS certificate of {request.url.host} could not be verified, so nothing was sent. "
                        "Next: if it is signed by your own CA, point SSL_CERT_FILE at that CA's certificate; "
                        "otherwise check the API base (GENESYSCLOUD_REGION / GENESYSCLOUD_API_REGION or the profile).",
                        maybe_processed=False,
                    ) from exc
                reached = not isinstance(exc, _NEVER_SENT)
                logger.info("%s %s failed: %s (attempt %d, %.0f ms)", method, path, type(exc).__name__, attempt, elapsed_ms)
                if reached and not again:
                    raise TransportError(
                        f"{method} {path} failed after the request may have reached Genesys ({type(exc).__name__})."
                        f"{_limit_note()} It was not resent: check whether it was processed before trying again.",
                        maybe_processed=True,
                    ) from exc
                delay = self._policy.next_delay(attempt, waited, None, time_left())
                if delay is None:
                    raise TransportError(
                        f"{method} {path} failed after {attempt} attempt(s): {type(exc).__name__}.{_limit_note()}",
                        maybe_processed=False,
                    ) from exc
            else:
                status = response.status_code
                logger.debug(
                    "%s %s -> %d (attempt %d, %.0f ms, correlation id %s)",
                    method,
                    path,
                    status,
                    attempt,
                    (time.perf_counter() - started) * 1000,
                    response.headers.get(CORRELATION_HEADER),
                )
                if status not in RETRYABLE_STATUSES or (status != 429 and not again):
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                delay = self._policy.next_delay(attempt, waited, retry_after, time_left())
                if delay is None:
                    return response
                await response.aclose()
            logger.info(
                "%s %s: retrying in %.2f s (attempt %d of %d)", method, path, delay, attempt + 1, self._policy.max_attempts
            )
            await self._policy.sleep(delay)
            waited += delay
