"""A fleet across real hosts: three replicas, PostgreSQL and the sandbox, each in its own network namespace.

The replicas are `iac-mcp serve --http` on hosts r1..r3, sharing one PostgreSQL ledger on
host `pg` (password login over the network) and one Genesys (the sandbox over TLS, with a
certificate authority the replicas are told to trust) on host `genesys`. A driver in the
root namespace runs 100 agent flows at once with mcp's own client, each call of a flow
going to the next replica in turn, and SIGKILLs one replica mid-run. Flows whose call was
cut retry on another replica, the real run with the same plan token: a plan must still
back exactly one run, and every flow must complete or end in an error that says what
happened and what to do next.

Run it alone: `.venv/bin/python -m pytest tests/test_fleet_hosts.py -s` (prints the figures).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from anyio.streams.memory import MemoryObjectSendStream
from fleet_support import (
    Host,
    Network,
    Replica,
    Tls,
    hosts_problem,
    make_tls,
    network,
    postgres_on,
    psql_query,
    read_logs,
    sandbox_jobs,
    sandbox_on,
    start_replica,
    wait_until_answering,
)
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, CallToolResult
from servers import CLEAN_ENV, text_of

from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.settings import DEFAULT_CLIENT_ID
from iac_mcp.transports.http import KEEP_ALIVE_SECONDS, MCP_PATH

pytestmark = pytest.mark.slow

FLOWS = 100
REPLICAS = ("r1", "r2", "r3")
VICTIM = 1
"""r2 is killed."""
KILL_AFTER_REAL_RUNS = 25
"""The kill comes once this many real runs were sent and one is in flight on the victim."""
KILL_AT_THE_LATEST = 60
JOB_DURATION = 0.5
SLOW_SUBMISSION = 1.0
"""Seconds the sandbox takes over each POST /jobs, so the kill finds real runs mid-POST."""
FLOW_DEADLINE = 170.0
"""A hang guard for the whole run, not a timing assertion."""
ACCELERATOR = "Simple Queue"

CLEAR_ERRORS = {
    "in use": "is being used by another real run right now",
    "used a moment ago": "was used by another real run a moment ago",
    "outcome unknown": "Outcome unknown",
}
"""What a flow whose real run was cut may be told instead of a job, each with a next step."""
ALREADY_BACKED = "already backed the real run "
RATE_LIMITED = ("Genesys is rate-limiting this client", "rate budget for this client is spent")
"""What a call told to wait for the rate limit says: a 429, or this server's pacing out of room
(each replica's token allows 300 requests a minute, and 100 fast flows need more)."""


@dataclass(frozen=True)
class FleetSecrets:
    client_secret: str
    bearer_token: str
    signing_key: str
    database_password: str

    def values(self) -> tuple[str, ...]:
        return (self.client_secret, self.bearer_token, self.signing_key, self.database_password)


@dataclass
class Fleet:
    net: Network
    tls: Tls
    sandbox_url: str
    database_url: str
    secrets: FleetSecrets
    logs: Path

    def host(self, name: str) -> Host:
        return self.net.hosts[name]

    def replica_env(self, **extra: str) -> dict[str, str]:
        """What every replica shares: Genesys over TLS, the ledger, the keys, the tokens."""
        return {
            **CLEAN_ENV,
            "GENESYSCLOUD_API_REGION": self.sandbox_url,
            "GENESYSCLOUD_OAUTHCLIENT_ID": DEFAULT_CLIENT_ID,
            "GENESYSCLOUD_OAUTHCLIENT_SECRET": self.secrets.client_secret,
            "IAC_MCP_SIGNING_KEY": self.secrets.signing_key,
            "IAC_MCP_HTTP_TOKENS": self.secrets.bearer_token,
            "IAC_MCP_DATABASE_URL": self.database_url,
            "IAC_MCP_CONSENT": "plan-token",
            # One bearer token is one caller here, a bot running all 100 flows: its operator lets it wait
            # for as many jobs at once (the default, 4, suits a person's client).
            "IAC_MCP_WAITS_PER_CALLER": str(FLOWS),
            "SSL_CERT_FILE": str(self.tls.ca),
            **extra,
        }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Hosts pg, genesys, r1..r3 on one bridge; PostgreSQL and the TLS sandbox running."""
    problem = hosts_problem()
    if problem:
        pytest.skip(problem)
    directory = tmp_path_factory.mktemp("fleet")
    values = FleetSecrets(*(secrets.token_hex(24) for _ in range(4)))
    with network() as net, ExitStack() as stack:
        pg, genesys = net.add_host("pg"), net.add_host("genesys")
        for name in REPLICAS:
            net.add_host(name)
        tls = make_tls(directory, genesys.address)
        database_url = stack.enter_context(postgres_on(pg, values.database_password, net.subnet))
        sandbox = {"job_duration": JOB_DURATION, "client_secret": values.client_secret, "seed": int(net.run_id, 16)}
        sandbox_url = stack.enter_context(
            sandbox_on(genesys, tls, sandbox, CLEAN_ENV, directory / "sandbox.log", slow_submission=SLOW_SUBMISSION)
        )
        yield Fleet(net, tls, sandbox_url, database_url, values, directory)


def iac_mcp(host: Host, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return host.run([sys.executable, "-m", "iac_mcp", *args], env)


@pytest.fixture(scope="module")
def check_without_the_ca(fleet: Fleet) -> subprocess.CompletedProcess[str]:
    """`iac-mcp check` on r1 with the system's trust store only, which does not know the test's CA."""
    return iac_mcp(fleet.host("r1"), {k: v for k, v in fleet.replica_env().items() if k != "SSL_CERT_FILE"}, "check")


def test_a_replica_reaches_genesys_over_tls_only_through_the_ca_it_is_given(
    fleet: Fleet, check_without_the_ca: subprocess.CompletedProcess[str]
) -> None:
    r1 = fleet.host("r1")
    trusted = iac_mcp(r1, fleet.replica_env(), "check")
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "result: ok" in trusted.stdout and f"test:***@{fleet.host('pg').address}" in trusted.stdout

    untrusted = check_without_the_ca
    assert untrusted.returncode == 1 and "could not be verified" in untrusted.stdout, untrusted.stdout

    in_clear = iac_mcp(r1, fleet.replica_env(GENESYSCLOUD_API_REGION=fleet.sandbox_url.replace("https", "http")), "check")
    assert in_clear.returncode == 2 and "the client secret would travel in clear" in in_clear.stderr, in_clear.stderr
    for done in (trusted, untrusted, in_clear):
        assert not any(value in done.stdout + done.stderr for value in fleet.secrets.values())


def test_an_untrusted_genesys_certificate_is_named_once_with_the_next_step(
    check_without_the_ca: subprocess.CompletedProcess[str],
) -> None:
    untrusted = check_without_the_ca
    assert "certificate" in untrusted.stdout.lower() and "SSL_CERT_FILE" in untrusted.stdout, untrusted.stdout
    assert "attempt 2" not in untrusted.stderr, "a certificate that cannot be verified will not verify on a retry"


# --- The driver -------------------------------------------------------------------------


class FleetUnreachable(Exception):
    """Every replica tried lost the call."""


class Lost:
    """The replica went away under a call: refused, reset, or the stream cut."""


LOST = Lost()


def connection_lost(error: BaseException) -> bool:
    """Whether `error` is the replica going away, as opposed to any other failure."""
    if isinstance(error, BaseExceptionGroup):
        return all(connection_lost(inner) for inner in error.exceptions)
    if isinstance(error, MCPError):
        return error.code == CONNECTION_CLOSED
    return isinstance(error, (httpx2.TransportError, anyio.ClosedResourceError, anyio.BrokenResourceError))


Reply = MemoryObjectSendStream[CallToolResult | Lost | Exception]
Request = tuple[str, dict[str, Any], Reply]


class Session:
    """An MCP session with one replica that carries the calls of every flow sent there, in a task
    of its own: mcp's client cancels everything inside its `async with` when its connection dies,
    so the death of a replica must fail the calls in flight (each told `LOST`), not the flows.

    One session per replica rather than per flow: the protocol is stateless, and mcp's client
    compiles each tool's output schema once per session, which for 300 sessions made the driver,
    not the fleet, the bottleneck on two cores.
    """

    def __init__(self, url: str, http: httpx2.AsyncClient) -> None:
        self._url, self._http = url, http
        self._send, self._inbox = anyio.create_memory_object_stream[Request](0)
        self._pending: set[Reply] = set()

    async def serve(self) -> None:
        try:
            transport = streamable_http_client(self._url + MCP_PATH, http_client=self._http)
            async with Client(transport, mode="auto") as client, anyio.create_task_group() as calls, self._inbox:
                async for tool, arguments, reply in self._inbox:
                    self._pending.add(reply)
                    calls.start_soon(self._one, client, tool, arguments, reply)
        except Exception as error:
            for reply in self._pending:
                with reply:
                    reply.send_nowait(LOST if connection_lost(error) else error)
        finally:
            self._inbox.close()

    async def _one(self, client: Client, tool: str, arguments: dict[str, Any], reply: Reply) -> None:
        try:
            outcome: CallToolResult | Exception = await client.call_tool(tool, arguments)
        except Exception as error:
            if connection_lost(error):
                raise  # the session is gone: every call in flight is told, in `serve`
            outcome = error
        self._pending.discard(reply)
        with reply:
            reply.send_nowait(outcome)

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult | Lost:
        reply, answer = anyio.create_memory_object_stream[CallToolResult | Lost | Exception](1)
        try:
            await self._send.send((tool, arguments, reply))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            reply.close()
            answer.close()
            return LOST
        async with answer:
            outcome = await answer.receive()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        self._send.close()


@dataclass
class Call:
    flow: int
    tool: str
    replica: int
    real_run: bool
    started: float
    ended: float | None = None
    lost: bool = False


@dataclass
class Flow:
    index: int
    queue_name: str
    turn: int
    started: float = 0.0
    ended: float = 0.0
    outcome: str = ""
    """completed, or the key of a clear error, or what went wrong."""
    job_id: str | None = None
    texts: list[str] = field(default_factory=list)


@dataclass
class Driver:
    """Sends each call of a flow to the next replica, and on a lost call to the one after; a call
    told to wait for the rate limit waits a second and goes again (nothing was sent)."""

    urls: list[str]
    pools: list[httpx2.AsyncClient]
    victim: Replica
    calls: list[Call] = field(default_factory=list)
    real_runs_sent: int = 0
    killed_at: float | None = None
    kill: anyio.Event = field(default_factory=anyio.Event)
    sessions: dict[int, Session] = field(default_factory=dict)
    _tasks: anyio.abc.TaskGroup = field(init=False)
    """Where the sessions run, beside the flows (see `Session`)."""

    def in_flight(self, replica: int, *, real_run: bool) -> int:
        return sum(1 for c in self.calls if c.replica == replica and c.ended is None and (c.real_run or not real_run))

    async def call(self, flow: Flow, tool: str, arguments: dict[str, Any], *, real_run: bool = False) -> CallToolResult:
        if real_run:
            self.real_runs_sent += 1
        lost = 0
        while lost <= len(self.urls):
            replica = flow.turn % len(self.urls)
            flow.turn += 1
            call = Call(flow.index, tool, replica, real_run, time.monotonic())
            self.calls.append(call)
            if not self.kill.is_set() and self.real_runs_sent >= KILL_AFTER_REAL_RUNS and self.in_flight(VICTIM, real_run=True):
                self.kill.set()
            if self.real_runs_sent >= KILL_AT_THE_LATEST:
                self.kill.set()
            session = self._session(replica)
            try:
                outcome = await session.call(tool, arguments)
            finally:
                call.ended = time.monotonic()
            if isinstance(outcome, Lost):
                call.lost = True
                if self.sessions.get(replica) is session:
                    self.sessions.pop(replica).close()  # the next call there opens a new session
                lost += 1
                continue
            flow.texts.append(text_of(outcome))
            if not (outcome.is_error and any(words in text_of(outcome) for words in RATE_LIMITED)):
                return outcome
            await anyio.sleep(1)  # the next step it names: wait, then try again (nothing was sent)
        raise FleetUnreachable(f"{tool}: every replica lost the call")

    def _session(self, replica: int) -> Session:
        if replica not in self.sessions:
            self.sessions[replica] = Session(self.urls[replica], self.pools[replica])
            self._tasks.start_soon(self.sessions[replica].serve)
        return self.sessions[replica]

    async def run(self, flow: Flow) -> None:
        """list → describe → dry run → wait → real run with the plan token → wait → report."""
        flow.started = time.monotonic()
        try:
            with anyio.fail_after(FLOW_DEADLINE):
                flow.outcome = await _steps(self, flow)
        except Exception as error:
            flow.outcome = f"crashed: {error!r}"
        flow.ended = time.monotonic()

    async def run_all(self, flows: list[Flow]) -> None:
        """Every flow at once, and the kill when its moment comes."""
        async with anyio.create_task_group() as self._tasks:
            self._tasks.start_soon(self._killer)
            async with anyio.create_task_group() as agents:
                for flow in flows:
                    agents.start_soon(self.run, flow)
            self.kill.set()  # a run that never met the condition still kills (and fails below)
            for session in self.sessions.values():
                session.close()

    async def _killer(self) -> None:
        await self.kill.wait()
        os.kill(self.victim.process.pid, signal.SIGKILL)
        self.killed_at = time.monotonic()


async def _followed(driver: Driver, flow: Flow, job_id: str) -> CallToolResult:
    """get-job until the job is terminal, polling again when told to: one bearer token is one
    caller, and a caller's concurrent waits are capped per replica (the rest are read once)."""
    while True:
        read = await driver.call(flow, "get-job", {"job_id": job_id, "wait_seconds": 30})
        if read.is_error or read.structured_content["terminal"]:
            return read
        await anyio.sleep(read.structured_content.get("poll_after_seconds") or 1)


async def _steps(driver: Driver, flow: Flow) -> str:
    listing = await driver.call(flow, "list-accelerators", {"name": ACCELERATOR})
    if listing.is_error:
        return "list failed"
    accelerator = listing.structured_content["accelerators"][0]["id"]
    described = await driver.call(flow, "describe-accelerator", {"accelerator_id": accelerator})
    if described.is_error:
        return "describe failed"
    params = dict(example_arguments(described.structured_content["parameters_schema"]), queue_name=flow.queue_name)
    planned = await driver.call(flow, "submit-job", {"accelerator_id": accelerator, "parameters": params})
    if planned.is_error:
        return "dry run failed"
    plan_id, plan_token = planned.structured_content["job"]["id"], planned.structured_content["plan_token"]
    plan = await _followed(driver, flow, plan_id)
    if plan.is_error or not plan.structured_content["succeeded"]:
        return "plan failed"
    real = {"accelerator_id": accelerator, "parameters": params, "dry_run": False, "plan_token": plan_token}
    applied = await driver.call(flow, "submit-job", real, real_run=True)
    text = text_of(applied)
    if applied.is_error and ALREADY_BACKED in text:
        flow.job_id = text.split(ALREADY_BACKED, 1)[1].split()[0]  # the next step it names: report that job
    elif applied.is_error:
        clear = [key for key, words in CLEAR_ERRORS.items() if words in text and "Next:" in text]
        return clear[0] if clear else "unclear real run error"
    else:
        flow.job_id = applied.structured_content["job"]["id"]
    done = await _followed(driver, flow, flow.job_id)
    if done.is_error or done.structured_content["status"] != "Complete" or done.structured_content["dry_run"]:
        return "real run not complete"
    return "completed"


def audit_trail(fleet: Fleet) -> tuple[list[dict[str, Any]], str]:
    """`iac-mcp audit --json` against the fleet's database, as an operator reads it."""
    env = {**CLEAN_ENV, "IAC_MCP_DATABASE_URL": fleet.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "iac_mcp", "audit", "--json", "--limit", "100000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()], done.stdout + done.stderr


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@pytest.mark.anyio
async def test_100_flows_over_three_replicas_on_three_hosts_with_one_killed_mid_run(fleet: Fleet) -> None:
    replicas: list[Replica] = []
    for name in REPLICAS:
        replicas.append(start_replica(fleet.host(name), fleet.replica_env(), fleet.logs / f"{name}.log"))
    for replica in replicas:
        wait_until_answering(f"{replica.url}/healthz", replica.process, replica.log)
    tag = fleet.net.run_id
    flows = [Flow(i, f"fleet-{tag}-{i:03d}", turn=i) for i in range(FLOWS)]
    async with AsyncExitStack() as pools:
        headers = {"Authorization": f"Bearer {fleet.secrets.bearer_token}"}
        # Idle connections are dropped before the server's keep-alive timeout closes them: a request
        # sent on a connection the server is closing would be lost, and a POST is never resent.
        limits = httpx2.Limits(max_connections=2 * FLOWS, keepalive_expiry=KEEP_ALIVE_SECONDS / 2)
        timeout = httpx2.Timeout(30, read=90)
        clients = [
            await pools.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=timeout, limits=limits)) for _ in replicas
        ]
        driver = Driver([r.url for r in replicas], clients, replicas[VICTIM])
        began = time.monotonic()
        await driver.run_all(flows)
        wall = time.monotonic() - began
    for replica in replicas:
        if replica.process.poll() is None:
            replica.process.terminate()

    jobs = sandbox_jobs(fleet.sandbox_url, fleet.tls.ca, DEFAULT_CLIENT_ID, fleet.secrets.client_secret)
    audit, audit_output = audit_trail(fleet)
    killed_at = driver.killed_at
    assert killed_at is not None and replicas[VICTIM].process.wait(10) == -signal.SIGKILL

    # Every flow completed or ended in a clear error; only flows whose real run the kill cut ended in one.
    outcomes = Counter(flow.outcome for flow in flows)
    unclear = {f.index: (f.outcome, f.texts[-1:]) for f in flows if f.outcome != "completed" and f.outcome not in CLEAR_ERRORS}
    assert not unclear, "\n".join(f"flow {i}: {outcome}: {texts}" for i, (outcome, texts) in unclear.items())
    cut = [c for c in driver.calls if c.lost and c.replica == VICTIM and c.started <= killed_at]
    assert cut, "the kill cut no call in flight: the attack did not happen"
    assert not [c for c in driver.calls if c.lost and c.replica != VICTIM], "a live replica lost a call"
    cut_real = {c.flow for c in cut if c.real_run}
    assert {f.index for f in flows if f.outcome in CLEAR_ERRORS} <= cut_real

    # The sandbox, read through its API: one real job per flow at most, each the flow's own.
    real = [job for job in jobs if not job.dry_run]
    per_queue = Counter(job.queue_name for job in real)
    duplicates = sum(n - 1 for n in per_queue.values() if n > 1)
    assert duplicates == 0 and None not in per_queue, per_queue
    by_id = {job.id: job for job in real}
    for flow in flows:
        if flow.outcome == "completed":
            assert flow.job_id in by_id and by_id[flow.job_id].queue_name == flow.queue_name, flow
    assert len({f.job_id for f in flows if f.job_id}) == sum(1 for f in flows if f.job_id)

    # The ledger: no plan backed two jobs, in the audit trail or in its own tables.
    backed: dict[str, set[str]] = {}
    for record in audit:
        if record["kind"] == "outcome" and not record["dry_run"] and record["job_id"]:
            backed.setdefault(record["plan_job_id"], set()).add(record["job_id"])
    plans_used_twice = sum(1 for jobs_of_plan in backed.values() if len(jobs_of_plan) > 1)
    assert plans_used_twice == 0, backed
    sql = "SELECT plan_job_id FROM attempts WHERE NOT dry_run AND job_id IS NOT NULL GROUP BY plan_job_id HAVING count(*) > 1"
    pg_address = fleet.host("pg").address
    assert psql_query(pg_address, fleet.secrets.database_password, sql) == []

    # The audit trail is complete: every real job has its outcome record, or (its replica died
    # between the POST and the answer) the attempt record written before the POST.
    outcome_jobs = {r["job_id"] for r in audit if r["kind"] == "outcome" and r["job_id"]}
    attempted = {r["parameters"].get("queue_name") for r in audit if r["kind"] == "attempt" and not r["dry_run"]}
    attempt_only = [job for job in real if job.id not in outcome_jobs]
    assert all(job.queue_name in attempted for job in attempt_only), attempt_only
    assert len(attempt_only) <= len(cut_real), (attempt_only, cut_real)

    # No secret in any result, log line or audit record.
    everything = "\n".join(t for f in flows for t in f.texts) + audit_output
    everything += read_logs([r.log for r in replicas] + [fleet.logs / "sandbox.log"])
    assert not [value for value in fleet.secrets.values() if value in everything]

    durations = [f.ended - f.started for f in flows]
    recovered = []
    for call in cut:
        after = [c.ended for c in driver.calls if c.flow == call.flow and not c.lost and c.started >= call.started and c.ended]
        recovered.append(min(after, default=float("inf")) - killed_at)
    refused = sum(1 for c in driver.calls if c.lost and c.replica == VICTIM and c.started > killed_at)
    figures = {
        "flows": FLOWS,
        "completed": outcomes["completed"],
        "completed via the ledger's pointer to the job": sum(1 for f in flows if any(ALREADY_BACKED in t for t in f.texts)),
        "clear errors": ", ".join(f"{outcomes[k]} {k}" for k in CLEAR_ERRORS) or "0",
        "calls cut by the kill (of them real runs)": f"{len(cut)} ({len(cut_real)})",
        "calls refused by the dead replica, retried on the next": refused,
        "real jobs in the sandbox": len(real),
        "duplicate real jobs": duplicates,
        "plans used twice": plans_used_twice,
        "real jobs with an outcome record / attempt record only": f"{len(real) - len(attempt_only)} / {len(attempt_only)}",
        "flow time median / p95": f"{statistics.median(durations):.1f} s / {percentile(durations, 0.95):.1f} s",
        "time to recover (kill → every cut call answered elsewhere)": f"{max(recovered):.2f} s",
        "wall time for the 100 flows": f"{wall:.1f} s",
    }
    width = max(map(len, figures))
    print("\n" + "\n".join(f"| {name.ljust(width)} | {value} |" for name, value in figures.items()))
