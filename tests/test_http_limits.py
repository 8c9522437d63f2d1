"""Bounded resources over real sockets: slow clients, the concurrency limit, `--stateful` sessions.

The slow-client tests run `iac-mcp serve --http` as a subprocess and talk raw TCP to it, the
way a slowloris attacker does: a request trickled a byte at a time, or never sent at all.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from http_support import HOST, INITIALIZE, MCP_HEADERS, cli, free_port, http_app, http_client, running_http, server_process
from mcp.shared.exceptions import MCPError
from servers import CLEAN_ENV, sandbox

from iac_mcp.settings import Settings, SettingsError, load_settings

READ_TIMEOUT = 1
LIMIT = 4
GIVE_UP_SECONDS = 15
"""A connection still open this long after the read timeout counts as held forever."""

OPS_TOKEN = "ops-bot-token-0123456789abcdef0123456789"
CI_TOKEN = "ci-runner-token-0123456789abcdef01234567"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    port = free_port()
    args = cli(
        "serve",
        "--http",
        "--sandbox",
        "--port",
        str(port),
        "--read-timeout",
        str(READ_TIMEOUT),
        "--limit-concurrency",
        str(LIMIT),
    )
    with server_process(args, {**CLEAN_ENV, "IAC_MCP_HTTP_TOKENS": f"ops-bot:{OPS_TOKEN}"}, port) as url:
        yield url, port


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=GIVE_UP_SECONDS)
    sock.settimeout(0.2)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (it reads end-of-stream or a reset); never blocks long."""
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _trickle(sock: socket.socket, chunks: Iterator[bytes]) -> float:
    """Send one chunk every 0.2 s until the server closes the connection; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < READ_TIMEOUT + GIVE_UP_SECONDS:
        try:
            sock.sendall(next(chunks))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
        if _closed_by_server(sock):
            return time.monotonic() - started
    raise AssertionError(f"the server held a trickling connection for {GIVE_UP_SECONDS} s")


def _headers_forever() -> Iterator[bytes]:
    yield f"POST /mcp HTTP/1.1\r\nHost: {HOST}\r\n".encode()
    n = 0
    while True:
        n += 1
        yield f"X-Slow-{n}: a\r\n".encode()


def test_a_client_trickling_headers_is_disconnected(served: tuple[str, int]) -> None:
    _, port = served
    with _connect(port) as sock:
        took = _trickle(sock, _headers_forever())
    print(f"trickled headers: closed after {took:.2f} s (read timeout {READ_TIMEOUT} s)")


def test_a_client_trickling_its_body_is_disconnected(served: tuple[str, int]) -> None:
    _, port = served

    def body() -> Iterator[bytes]:
        yield (
            f"POST /mcp HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {OPS_TOKEN}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n{"
        ).encode()
        while True:
            yield b" "

    with _connect(port) as sock:
        took = _trickle(sock, body())
    print(f"trickled body: closed after {took:.2f} s")


def test_a_connection_that_sends_nothing_is_disconnected(served: tuple[str, int]) -> None:
    _, port = served
    with _connect(port) as sock:
        started = time.monotonic()
        while not _closed_by_server(sock):
            assert time.monotonic() - started < READ_TIMEOUT + GIVE_UP_SECONDS, "a silent connection was held"
    print(f"silent connection: closed after {time.monotonic() - started:.2f} s")


def test_a_prompt_client_keeps_its_connection_for_several_requests(served: tuple[str, int]) -> None:
    """The guard is per request: a kept-alive connection serves request after request."""
    url, _ = served
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            assert client.get(url + "/healthz").status_code == 200
            time.sleep(READ_TIMEOUT * 0.6)  # idle between requests, under the keep-alive timeout
        assert client.get(url + "/healthz").status_code == 200
        answer = client.post(url + "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {OPS_TOKEN}"})
        assert answer.status_code == 200


def test_beyond_the_concurrency_limit_requests_get_503_until_slow_connections_are_cut(served: tuple[str, int]) -> None:
    url, port = served
    idle = [_connect(port) for _ in range(LIMIT - 1)]
    try:
        with httpx.Client(timeout=10) as client:
            answer = client.get(url + "/healthz")
            assert answer.status_code == 503, "the held connections use up the limit"
        started = time.monotonic()
        for sock in idle:
            while not _closed_by_server(sock):
                assert time.monotonic() - started < READ_TIMEOUT + GIVE_UP_SECONDS
        with httpx.Client(timeout=10) as client:
            assert client.get(url + "/healthz").status_code == 200, "capacity is back once the read timeout cut them"
    finally:
        for sock in idle:
            sock.close()


# --- --stateful sessions: capped per principal, expired when idle ---------------------------


def _initialize(url: str, token: str) -> httpx.Response:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    return httpx.post(url + "/mcp", json=INITIALIZE, headers=headers, timeout=20)


def _stateful(**options: Any) -> Any:
    tokens = (f"ops-bot:{OPS_TOKEN}", f"ci-runner:{CI_TOKEN}")
    return running_http(http_app(sandbox(), tokens=tokens, stateful=True, sessions_per_principal=2, **options))


def test_sessions_are_capped_per_principal_and_freed_by_delete() -> None:
    with _stateful() as url:
        opened = [_initialize(url, OPS_TOKEN) for _ in range(2)]
        assert [a.status_code for a in opened] == [200, 200]
        refused = _initialize(url, OPS_TOKEN)
        assert refused.status_code == 429
        message = refused.json()["error"]["message"]
        assert "Too many open sessions" in message and "limit is 2" in message and "DELETE" in message
        assert OPS_TOKEN not in refused.text
        assert _initialize(url, CI_TOKEN).status_code == 200, "another caller is unaffected"
        session = opened[0].headers["mcp-session-id"]
        headers = {"Authorization": f"Bearer {OPS_TOKEN}", "Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
        assert httpx.delete(url + "/mcp", headers=headers, timeout=10).status_code == 200
        assert _initialize(url, OPS_TOKEN).status_code == 200, "an ended session frees its slot"
        assert _initialize(url, OPS_TOKEN).status_code == 429


@pytest.mark.anyio
async def test_concurrent_initializes_cannot_overshoot_the_cap() -> None:
    statuses: list[int] = []

    async def open_one(client: httpx.AsyncClient, url: str) -> None:
        answer = await client.post(url + "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {OPS_TOKEN}"})
        statuses.append(answer.status_code)

    with _stateful() as url:
        async with httpx.AsyncClient(timeout=20) as client, anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(open_one, client, url)
    assert sorted(statuses) == [200, 200] + [429] * 6


@pytest.mark.anyio
async def test_mcp_clients_see_the_refusal() -> None:
    with _stateful() as url:
        for _ in range(2):
            assert _initialize(url, OPS_TOKEN).status_code == 200
        with pytest.raises(ExceptionGroup) as caught:
            async with http_client(url, "legacy", token=OPS_TOKEN):
                pass
        assert caught.group_contains(MCPError, match="Too many open sessions for this caller"), caught.value
        async with http_client(url, "legacy", token=CI_TOKEN) as client:
            assert (await client.list_tools()).tools


def test_idle_sessions_expire_and_free_their_slots() -> None:
    with _stateful(session_idle_timeout=1) as url:
        assert [_initialize(url, OPS_TOKEN).status_code for _ in range(2)] == [200, 200]
        started = time.monotonic()
        while (status := _initialize(url, OPS_TOKEN).status_code) == 429:
            assert time.monotonic() - started < GIVE_UP_SECONDS, "idle sessions never expired"
            time.sleep(0.2)
        assert status == 200
    print(f"idle sessions expired after {time.monotonic() - started:.2f} s (idle timeout 1 s)")


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("read_timeout", 0, "IAC_MCP_HTTP_READ_TIMEOUT"),
        ("limit_concurrency", 1, "IAC_MCP_HTTP_LIMIT_CONCURRENCY"),
        ("sessions_per_principal", 0, "IAC_MCP_HTTP_SESSIONS_PER_PRINCIPAL"),
        ("session_idle_timeout", 0, "IAC_MCP_HTTP_SESSION_IDLE_TIMEOUT"),
    ],
)
def test_limits_that_would_disable_the_guard_are_refused(field: str, value: int, variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({field: value})


def test_the_defaults_are_bounded() -> None:
    settings = Settings()
    assert settings.read_timeout == 10 and settings.limit_concurrency == 100
    assert settings.sessions_per_principal == 10 and settings.session_idle_timeout == 30 * 60
