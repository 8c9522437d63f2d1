"""Host and Origin match exactly over real HTTP: a port is digits, nothing may follow it.

mcp's wildcard patterns (`localhost:*`) match by prefix, so `127.0.0.1:PORT.evil.example`
would pass as "127.0.0.1 with some port" though it names another host to anything that
reads it after us (a proxy, a log, a browser's idea of the origin).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from http_support import TOKEN, http_app, running_http
from servers import sandbox

from iac_mcp.settings import Settings
from iac_mcp.transports.http import header_allowed, transport_security

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Authorization": f"Bearer {TOKEN}",
}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    with running_http(http_app(sandbox())) as url:
        port = urlsplit(url).port
        assert port is not None
        yield url, port


def _post(url: str, **headers: str) -> httpx.Response:
    return httpx.post(url + "/mcp", json=INITIALIZE, headers={**HEADERS, **headers}, timeout=10)


BAD_HOSTS = [
    "127.0.0.1:{port}.evil.example",
    "localhost:{port}@evil.example",
    "localhost:{port}/evil",
    "localhost:{port}:1",
    "localhost:",
    "localhost:abc",
    "localhost:{port} evil.example",
    "[::1]:{port}.evil.example",
]
GOOD_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "localhost", "[::1]:{port}", "127.0.0.1"]
BAD_ORIGINS = [
    "http://localhost:3000.evil.example",
    "http://localhost:3000@evil.example",
    "https://127.0.0.1:8443.evil.example",
    "http://localhost:",
    "http://localhost:3000/evil",
    "http://[::1]:3000.evil.example",
]
GOOD_ORIGINS = ["http://localhost:3000", "https://127.0.0.1:8443", "http://localhost", "http://[::1]:3000"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_host_whose_port_is_not_digits_is_421(served: tuple[str, int], host: str) -> None:
    url, port = served
    answer = _post(url, Host=host.format(port=port))
    assert answer.status_code == 421, answer.text


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_our_own_host_names_pass(served: tuple[str, int], host: str) -> None:
    url, port = served
    answer = _post(url, Host=host.format(port=port))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("origin", BAD_ORIGINS)
def test_an_origin_whose_port_is_not_digits_is_403(served: tuple[str, int], origin: str) -> None:
    url, _ = served
    answer = _post(url, Origin=origin)
    assert answer.status_code == 403, answer.text


@pytest.mark.parametrize("origin", GOOD_ORIGINS)
def test_our_own_origins_pass(served: tuple[str, int], origin: str) -> None:
    url, _ = served
    answer = _post(url, Origin=origin)
    assert answer.status_code == 200, answer.text


def test_configured_names_match_exactly_or_with_a_numeric_port() -> None:
    security = transport_security(
        Settings(host="10.1.2.3", allowed_hosts=("mcp.example.com",), allowed_origins=("https://chat.example.com",))
    )
    hosts, origins = security.allowed_hosts, security.allowed_origins
    assert header_allowed("mcp.example.com", hosts) and header_allowed("mcp.example.com:443", hosts)
    assert header_allowed("10.1.2.3:8000", hosts)
    assert not header_allowed("mcp.example.com:443.evil.example", hosts)
    assert not header_allowed("mcp.example.com.evil.example", hosts)
    assert not header_allowed("10.1.2.3:8000@evil.example", hosts)
    assert not header_allowed("10.1.2.3:123456", hosts)
    assert header_allowed("https://chat.example.com", origins)
    assert not header_allowed("https://chat.example.com:443", origins), "a configured origin matches exactly"
    assert not header_allowed("https://chat.example.com.evil.example", origins)
    assert not header_allowed("", hosts)
