"""Real hosts on one machine for the fleet test: network namespaces on a bridge, and what runs on them.

Each host is a network namespace with one veth into a bridge in the root namespace, which
holds the gateway address; the test's driver runs in the root namespace and reaches every
host through the bridge. Names and the 10.x subnet are new for each run, so parallel runs
never meet, and `Network.close` kills every process left in its namespaces, removes them
and checks that nothing of the run remains.

The servers are the public commands: `iac-mcp serve --http` for replicas, PostgreSQL's own
`initdb`/`pg_ctl`, and the sandbox app under uvicorn's command line, because `iac-mcp
sandbox` cannot serve TLS and a client refuses plain http:// to a Genesys that is not
on loopback (the client secret would travel in clear).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from postgres_support import _as_postgres, _binary
from starlette.applications import Starlette

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.faults import slow
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.sandbox.vocabulary import is_terminal

NAMESPACE_PREFIX = "iacfleet-"
SANDBOX_SETTINGS_ENV = "IAC_MCP_FLEET_SANDBOX_SETTINGS"
"""JSON of the `SandboxSettings` fields the sandbox host runs with (read by `sandbox_app_from_env`)."""
SLOW_SUBMISSION_ENV = "IAC_MCP_FLEET_SANDBOX_SLOW_SUBMISSION"
"""Seconds every `POST /jobs` takes before the sandbox creates the job: a kill then finds real runs mid-POST."""
POSTGRES_PORT = 5432
SANDBOX_PORT = 8443
REPLICA_PORT = 8000
READY_SECONDS = 60
JOBS_PATH = "/api/v2/infrastructureascode/jobs"
QUEUE_NAME = re.compile(r'queue_name\s*=\s*"([^"]+)"')
"""How a real job's Terraform output names the queue it created (the flow's own name)."""


def _run(args: Sequence[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done


def hosts_problem(euid: int | None = None, ip: str | None = None) -> str | None:
    """Why namespaced hosts cannot be built here (a skip reason), or None when they can."""
    if (os.geteuid() if euid is None else euid) != 0:
        return "building hosts with network namespaces needs root (CI runs as root)"
    ip = ip if ip is not None else shutil.which("ip")
    if ip is None:
        return "`ip` (iproute2) is not installed; .ci/run installs it"
    probe = f"{NAMESPACE_PREFIX}probe-{secrets.token_hex(3)}"
    made = subprocess.run([ip, "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here: {made.stderr.strip()}"
    subprocess.run([ip, "netns", "del", probe], capture_output=True, check=False)
    if _binary("initdb") is None or _binary("pg_ctl") is None:
        return "PostgreSQL is not installed (no initdb/pg_ctl); .ci/run installs it"
    return None


def free_subnet() -> ipaddress.IPv4Network:
    """A random 10.x.y.0/24 that no interface or route of this machine uses."""
    taken = _run(["ip", "-4", "-o", "addr"]).stdout + _run(["ip", "-4", "route"]).stdout
    used = [ipaddress.ip_network(m, strict=False) for m in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)", taken)]
    while True:
        subnet = ipaddress.IPv4Network(f"10.{random.randint(160, 250)}.{random.randint(0, 255)}.0/24")
        if not any(subnet.overlaps(other) for other in used):
            return subnet


@dataclass
class Host:
    """One namespace with one address; processes started on it run inside the namespace."""

    name: str
    namespace: str
    address: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *args]

    def spawn(self, args: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[str]:
        """Start `args` on this host; its output goes to `log` (a pipe could fill and stall it)."""
        with log.open("w") as out:
            process = subprocess.Popen(self.command(*args), env=dict(env), stdout=out, stderr=subprocess.STDOUT, text=True)
        self.processes.append(process)
        return process

    def run(self, args: Sequence[str], env: Mapping[str, str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)


class Network:
    """A bridge in the root namespace and the hosts attached to it; `close` undoes all of it."""

    def __init__(self) -> None:
        self.run_id = secrets.token_hex(3)
        self.subnet = free_subnet()
        self.bridge = f"fbr{self.run_id}"
        self.hosts: dict[str, Host] = {}
        self._addresses = self.subnet.hosts()
        self.gateway = str(next(self._addresses))
        self._links: list[str] = []
        try:
            _run(["ip", "link", "add", self.bridge, "type", "bridge"])
            _run(["ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge])
            _run(["ip", "link", "set", self.bridge, "up"])
        except BaseException:
            self.close()
            raise

    def add_host(self, name: str) -> Host:
        host = Host(name, f"{NAMESPACE_PREFIX}{self.run_id}-{name}", str(next(self._addresses)))
        link = f"fv{self.run_id}{len(self.hosts)}"
        self.hosts[name] = host
        _run(["ip", "netns", "add", host.namespace])
        self._links.append(link)
        _run(["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
        _run(["ip", "link", "set", link, "master", self.bridge])
        _run(["ip", "link", "set", link, "up"])
        inside = ["ip", "-n", host.namespace]
        _run([*inside, "addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", "eth0"])
        _run([*inside, "link", "set", "eth0", "up"])
        _run([*inside, "link", "set", "lo", "up"])
        return host

    def close(self) -> None:
        """Kill what runs on the hosts, delete namespaces, links and bridge; fail if any remain."""
        for host in self.hosts.values():
            for process in host.processes:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
            pids = _run(["ip", "netns", "pids", host.namespace], check=False).stdout.split()
            for pid in pids:  # daemons such as the postmaster, started on the host by us
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "del", host.namespace], check=False)
        for link in self._links:
            _run(["ip", "link", "del", link], check=False)
        _run(["ip", "link", "del", self.bridge], check=False)
        left = [ns for ns in _run(["ip", "netns", "list"]).stdout.split() if ns.startswith(f"{NAMESPACE_PREFIX}{self.run_id}")]
        links = _run(["ip", "-o", "link"]).stdout
        left += [name for name in (self.bridge, *self._links) if re.search(rf"\b{name}\b", links)]
        if left:
            raise RuntimeError(f"the fleet's hosts were not all removed: {left}")


def trusting(ca: Path) -> ssl.SSLContext:
    """A client TLS context that trusts only the test's CA."""
    return ssl.create_default_context(cafile=str(ca))


@dataclass(frozen=True)
class Tls:
    """A certificate authority the test made, and a server certificate it signed for one address."""

    ca: Path
    certificate: Path
    key: Path


def make_tls(directory: Path, address: str) -> Tls:
    """A CA and a leaf for `address` (an IP subject alternative name), valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iac-mcp fleet test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(directory / "ca.pem", directory / "sandbox.pem", directory / "sandbox-key.pem")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.certificate.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tls


@contextmanager
def postgres_on(host: Host, password: str, subnet: ipaddress.IPv4Network) -> Iterator[str]:
    """A PostgreSQL cluster on `host`, listening on its address, password login from `subnet`.

    Yields the URL a replica is given. Runs as the `postgres` user (PostgreSQL refuses root)
    in a directory of its own under /tmp (pytest's temporary directories are root's alone).
    """
    initdb, pg_ctl, psql = _binary("initdb"), _binary("pg_ctl"), _binary("psql")
    assert initdb and pg_ctl and psql, "hosts_problem() checks for PostgreSQL first"
    directory = Path(tempfile.mkdtemp(prefix="iac-mcp-fleet-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    data, log = directory / "data", directory / "log"
    _run(_as_postgres(initdb, "-D", str(data), "-A", "trust", "-U", "test"), timeout=120)
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {subnet} scram-sha-256\n")
    options = f"-p {POSTGRES_PORT} -k {directory} -c listen_addresses={host.address} -c fsync=off -c max_connections=200"
    start = host.command(*_as_postgres(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"))
    try:
        done = subprocess.run(start, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr}{log.read_text(errors='replace') if log.exists() else ''}")
        local = [psql, "-h", str(directory), "-p", str(POSTGRES_PORT), "-U", "test", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
        _run([*local, "-c", f"ALTER USER test PASSWORD '{password}'", "-c", "CREATE DATABASE fleet"])
        yield f"postgresql://test:{password}@{host.address}:{POSTGRES_PORT}/fleet"
    finally:
        subprocess.run(
            _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "stop"), capture_output=True, timeout=60, check=False
        )
        shutil.rmtree(directory, ignore_errors=True)


def psql_query(url_host: str, password: str, sql: str) -> list[list[str]]:
    """Rows of `sql` against the fleet's database over the network, as a replica reaches it."""
    psql = _binary("psql") or "psql"
    env = {**os.environ, "PGPASSWORD": password}
    args = [psql, "-h", url_host, "-p", str(POSTGRES_PORT), "-U", "test", "-d", "fleet", "-At", "-F", "\t", "-c", sql]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def sandbox_app_from_env() -> Starlette:
    """uvicorn factory for the sandbox host: the sandbox app with the settings in the environment."""
    app = create_app(SandboxSettings(**json.loads(os.environ[SANDBOX_SETTINGS_ENV])))
    app.state.sandbox.faults.probability("create_job", slow(float(os.environ.get(SLOW_SUBMISSION_ENV, "0"))), 1.0)
    return app


@contextmanager
def sandbox_on(
    host: Host, tls: Tls, settings: Mapping[str, Any], env: Mapping[str, str], log: Path, *, slow_submission: float = 0
) -> Iterator[str]:
    """The sandbox over TLS on `host` (uvicorn's own command line); yields its https:// base URL."""
    args = [
        sys.executable, "-m", "uvicorn", "--factory", "fleet_support:sandbox_app_from_env",
        "--app-dir", str(Path(__file__).parent), "--host", host.address, "--port", str(SANDBOX_PORT),
        "--ssl-certfile", str(tls.certificate), "--ssl-keyfile", str(tls.key),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    variables = {SANDBOX_SETTINGS_ENV: json.dumps(dict(settings)), SLOW_SUBMISSION_ENV: str(slow_submission)}
    process = host.spawn(args, {**env, **variables}, log)
    url = f"https://{host.address}:{SANDBOX_PORT}"
    wait_until_answering(f"{url}{JOBS_PATH}", process, log, verify=trusting(tls.ca), ready=(401,))
    yield url


def replica_command(host: Host) -> list[str]:
    """`iac-mcp serve --http` bound to the host's address, accepting Host headers naming it."""
    return [
        sys.executable, "-m", "iac_mcp", "serve", "--http", "--host", host.address, "--port", str(REPLICA_PORT),
        "--allowed-host", f"{host.address}:{REPLICA_PORT}", "--uvicorn-log-level", "warning",
    ]  # fmt: skip


@dataclass
class Replica:
    host: Host
    process: subprocess.Popen[str]
    url: str
    log: Path


def start_replica(host: Host, env: Mapping[str, str], log: Path) -> Replica:
    """An `iac-mcp serve --http` replica on `host`, once its /healthz answers."""
    process = host.spawn(replica_command(host), env, log)
    url = f"http://{host.address}:{REPLICA_PORT}"
    return Replica(host, process, url, log)


def wait_until_answering(
    url: str, process: subprocess.Popen[str], log: Path, *, verify: ssl.SSLContext | bool = False, ready: tuple[int, ...] = (200,)
) -> None:
    """Poll `url` until it answers one of `ready`; fail with the server's log if it exits or never does."""
    deadline = time.monotonic() + READY_SECONDS
    with httpx.Client(verify=verify, trust_env=False, timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if client.get(url).status_code in ready:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {READY_SECONDS} s:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)


@dataclass(frozen=True)
class SandboxJob:
    id: str
    dry_run: bool
    status: str
    queue_name: str | None
    """The queue a real job's Terraform output created; None for plans (and unfinished jobs)."""


def sandbox_jobs(url: str, ca: Path, client_id: str, client_secret: str, *, settle_seconds: float = 30) -> list[SandboxJob]:
    """Every job the sandbox holds, read through its API like any client, once all are terminal."""
    with httpx.Client(base_url=url, verify=trusting(ca), trust_env=False, timeout=30) as client:
        answer = client.post("/oauth/token", auth=(client_id, client_secret), data={"grant_type": "client_credentials"})
        answer.raise_for_status()
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        deadline = time.monotonic() + settle_seconds
        while True:
            listing = client.get(JOBS_PATH, params={"maxResults": 100_000})
            listing.raise_for_status()
            entries = listing.json()["entities"]
            if all(is_terminal(str(e["status"])) for e in entries) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        jobs = []
        for entry in entries:
            queue = None
            if not entry["dryRun"]:
                detail = client.get(f"{JOBS_PATH}/{entry['id']}", params={"details": "true"})
                detail.raise_for_status()
                found = QUEUE_NAME.search(detail.json().get("results") or "")
                queue = found.group(1) if found else None
            jobs.append(SandboxJob(entry["id"], bool(entry["dryRun"]), str(entry["status"]), queue))
        return jobs


def read_logs(paths: Sequence[Path]) -> str:
    return "\n".join(p.read_text(errors="replace") for p in paths if p.exists())


@contextmanager
def network() -> Iterator[Network]:
    """A `Network` closed (and checked clean) however the block ends."""
    with ExitStack() as stack:
        net = Network()
        stack.callback(net.close)
        yield net
