"""Telemetry: a span per tool call joined to mcp's own, metrics of calls and upstream requests,
JSON logs; never a parameter, a value, a plan token or a secret in any of them.

In process, spans and metrics go to OpenTelemetry's in-memory exporters through the real
server over the sandbox. As a subprocess, `iac-mcp serve` exports over OTLP/HTTP to a
receiver of the test's own, and logs JSON on stderr; without the SDK it warns and serves.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx
import pytest
from http_support import HOST, cli, free_port
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from opentelemetry import trace
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode
from reliability import fast_connected
from servers import CLEAN_ENV, ERAS, accept_consent, sandbox, text_of
from test_reliability_secrets import CLIENT_ID, CLIENT_SECRET, SENSITIVE, Witness, exercise

from iac_mcp import telemetry
from iac_mcp.demo import example_arguments
from iac_mcp.genesys.metering import OTHER_ROUTE, ROUTES, Exchange, MeteringTransport, correlation_id_of, route_of
from iac_mcp.sandbox.faults import status
from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.upstream import metered

pytestmark = pytest.mark.anyio

MISSING = "00000000-0000-4000-8000-000000000000"
CORRELATION = re.compile(r"correlation id ([0-9a-f-]{36})")
PLAN_TOKEN = re.compile(r'"plan_token":\s*"([^"]+)"')


# --- Recording in process ------------------------------------------------------------


class Switch(Sampler):
    """Records only while a test of this file runs: the global provider outlives it."""

    on = False

    def should_sample(
        self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None, *_: Any
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "on while a telemetry test runs"


SWITCH = Switch()
SPANS = InMemorySpanExporter()
PROVIDER = TracerProvider(sampler=SWITCH)
PROVIDER.add_span_processor(SimpleSpanProcessor(SPANS))


@dataclass
class Recorded:
    metrics: InMemoryMetricReader

    @staticmethod
    def spans() -> Sequence[ReadableSpan]:
        return SPANS.get_finished_spans()

    def tool_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(f"{telemetry.EXECUTE_TOOL} ")]

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        """(attributes, value or histogram count) of each data point of metric `name`."""
        found = []
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [
                            (dict(p.attributes or {}), getattr(p, "value", None) or p.count) for p in metric.data.data_points
                        ]
        return found

    def total(self, name: str, **attributes: Any) -> float:
        return sum(value for labels, value in self.points(name) if all(labels.get(k) == v for k, v in attributes.items()))

    def everything(self) -> str:
        """All an exporter would send: span names, attributes, events, statuses, links; metric names and labels."""
        parts = []
        for span in self.spans():
            parts += [span.name, json.dumps(dict(span.attributes or {})), str(span.status.description)]
            parts += [f"{e.name} {json.dumps(dict(e.attributes or {}))}" for e in span.events]
            parts += [json.dumps(dict(link.attributes or {})) for link in span.links]
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    parts += [metric.name, *(json.dumps(dict(p.attributes or {})) for p in metric.data.data_points)]
        return "\n".join(parts)


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(PROVIDER)
    assert trace.get_tracer_provider() is PROVIDER, "mcp's spans go to the global provider: it must be this one"
    SPANS.clear()
    reader = InMemoryMetricReader()
    telemetry.start(PROVIDER, MeterProvider(metric_readers=[reader]))
    SWITCH.on = True
    try:
        yield Recorded(reader)
    finally:
        SWITCH.on = False
        telemetry.stop()
        SPANS.clear()


# --- Spans -------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_each_tool_call_has_a_span_under_mcps_request_span(era: str, recorded: Recorded) -> None:
    app = sandbox()
    async with fast_connected(app, era, elicitation_callback=accept_consent) as client:
        listing = await client.call_tool("list-accelerators", {"name": "queue"})
        target = listing.structured_content["accelerators"][0]["id"]
        described = await client.call_tool("describe-accelerator", {"accelerator_id": target})
        params = example_arguments(described.structured_content["parameters_schema"])
        planned = await client.call_tool("submit-job", {"accelerator_id": target, "parameters": params})
        plan_id = planned.structured_content["job"]["id"]
        await client.call_tool("get-job", {"job_id": plan_id, "wait_seconds": 5})
        real = {
            "accelerator_id": target,
            "parameters": params,
            "dry_run": False,
            "plan_token": planned.structured_content["plan_token"],
        }
        applied = await client.call_tool("submit-job", real)
        missing = await client.call_tool("describe-accelerator", {"accelerator_id": MISSING})
    assert not applied.is_error, text_of(applied)
    assert missing.is_error

    spans = {s.context.span_id: s for s in recorded.spans()}
    ours = recorded.tool_spans()
    theirs = [s for s in spans.values() if s.kind is SpanKind.SERVER and s.name.startswith("tools/call ")]
    assert len(ours) == len(theirs) >= 6
    for span in ours:
        parent = spans[span.parent.span_id] if span.parent else None
        tool = span.attributes["gen_ai.tool.name"]
        assert parent is not None and parent.name == f"tools/call {tool}" and parent.kind is SpanKind.SERVER, span.name
        assert span.context.trace_id == parent.context.trace_id and span.kind is SpanKind.INTERNAL
        assert span.name == f"execute_tool {tool}"
        assert span.attributes["gen_ai.operation.name"] == "execute_tool" and span.attributes["iac_mcp.org"] == "default"

    outcomes = [(s.attributes["gen_ai.tool.name"], s.attributes["iac_mcp.outcome"]) for s in ours]
    consent_round = [("submit-job", "input_required")] if era == "auto" else []
    assert outcomes == [
        ("list-accelerators", "ok"),
        ("describe-accelerator", "ok"),
        ("submit-job", "ok"),
        ("get-job", "ok"),
        *consent_round,
        ("submit-job", "ok"),
        ("describe-accelerator", "tool_error"),
    ]
    job_ids = [s.attributes.get("iac_mcp.genesys.job_id") for s in ours]
    assert job_ids == [
        None,
        None,
        plan_id,
        plan_id,
        *([None] * len(consent_round)),
        applied.structured_content["job"]["id"],
        None,
    ]

    failed = ours[-1]
    correlation = CORRELATION.search(text_of(missing))
    assert correlation, text_of(missing)
    assert failed.attributes["error.type"] == "tool_error" and failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["iac_mcp.genesys.correlation_id"] == correlation.group(1)
    assert all("iac_mcp.genesys.correlation_id" not in s.attributes for s in ours[:-1])


@pytest.mark.parametrize("era", ERAS)
async def test_no_parameter_value_plan_token_or_secret_in_any_span_or_metric(era: str, recorded: Recorded) -> None:
    app = sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    witness = Witness()
    async with fast_connected(app, era, elicitation_callback=witness.consent) as client:
        await exercise(client, witness)
        app.state.sandbox.faults.add("list_jobs", status(429, retry_after=600))
        await witness.call(client, "list-jobs", {})
    plan_tokens = {token for seen in witness.seen for token in PLAN_TOKEN.findall(seen)}
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    secrets = [CLIENT_SECRET, basic, SENSITIVE, *app.state.sandbox.tokens, *plan_tokens]
    assert len(plan_tokens) >= 2 and app.state.sandbox.tokens

    exported = recorded.everything()
    assert "tool_error" in exported and "429" in exported and "iac_mcp.genesys.job_id" in exported, (
        "the scan reads real telemetry"
    )
    for secret in secrets:
        assert secret not in exported, f"a secret reached telemetry: ...{exported[max(0, exported.find(secret) - 200) :][:260]}"
    for span in recorded.spans():
        assert not {key for key in span.attributes or {} if "param" in key or "argument" in key}, span.name


async def test_concurrent_calls_keep_their_own_correlation_ids(recorded: Recorded) -> None:
    """Each call's findings live in its own context: failures racing successes never mix."""
    app = sandbox()
    results: dict[int, CallToolResult] = {}
    async with fast_connected(app, "legacy") as client:

        async def call(n: int) -> None:
            arguments = {"accelerator_id": f"{MISSING[:-2]}{n:02d}"} if n % 2 else {}
            results[n] = await client.call_tool("describe-accelerator" if n % 2 else "list-accelerators", arguments)

        async with anyio.create_task_group() as group:
            for n in range(12):
                group.start_soon(call, n)
    failing = {m.group(1) for r in results.values() if r.is_error for m in [CORRELATION.search(text_of(r))] if m}
    assert len(failing) == 6
    spans = recorded.tool_spans()
    assert {
        s.attributes.get("iac_mcp.genesys.correlation_id") for s in spans if s.attributes["iac_mcp.outcome"] == "tool_error"
    } == failing
    assert all("iac_mcp.genesys.correlation_id" not in s.attributes for s in spans if s.attributes["iac_mcp.outcome"] == "ok")
    assert len(spans) == 12


# --- Metrics -----------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_metrics_count_calls_errors_durations_upstream_requests_and_429s(era: str, recorded: Recorded) -> None:
    app = sandbox()
    async with fast_connected(app, era) as client:
        await client.call_tool("list-accelerators", {})
        await client.call_tool("describe-accelerator", {"accelerator_id": MISSING})
        app.state.sandbox.faults.add("list_jobs", status(429, retry_after=1))
        listed = await client.call_tool("list-jobs", {})
    assert not listed.is_error, text_of(listed)

    assert recorded.total("iac_mcp.tool.calls", **{"gen_ai.tool.name": "list-accelerators", "iac_mcp.outcome": "ok"}) == 1
    assert (
        recorded.total("iac_mcp.tool.calls", **{"gen_ai.tool.name": "describe-accelerator", "iac_mcp.outcome": "tool_error"}) == 1
    )
    assert recorded.total("iac_mcp.tool.calls", **{"gen_ai.tool.name": "list-jobs", "iac_mcp.outcome": "ok"}) == 1
    assert recorded.total("iac_mcp.tool.errors") == 1
    assert recorded.total("iac_mcp.tool.errors", **{"gen_ai.tool.name": "describe-accelerator", "error.type": "tool_error"}) == 1
    assert recorded.total("iac_mcp.tool.duration") == recorded.total("iac_mcp.tool.calls") == 3

    jobs = f"{ROUTES[2]}"
    assert recorded.total("iac_mcp.upstream.requests", **{"url.template": jobs, "http.response.status_code": 429}) == 1
    assert recorded.total("iac_mcp.upstream.requests", **{"url.template": jobs, "http.response.status_code": 200}) == 1
    assert recorded.total("iac_mcp.upstream.requests", **{"url.template": ROUTES[1], "http.response.status_code": 404}) == 1
    assert recorded.total("iac_mcp.upstream.requests", **{"url.template": "/oauth/token", "http.request.method": "POST"}) >= 1
    assert (
        recorded.total("iac_mcp.upstream.throttled")
        == recorded.total("iac_mcp.upstream.throttled", **{"url.template": jobs})
        == 1
    )
    assert recorded.total("iac_mcp.upstream.duration") == recorded.total("iac_mcp.upstream.requests")
    assert {labels["url.template"] for labels, _ in recorded.points("iac_mcp.upstream.requests")} <= set(ROUTES)
    assert MISSING not in recorded.everything()


async def test_a_crash_is_an_error_a_tool_error_is_not_and_the_schema_is_the_handlers(recorded: Recorded) -> None:
    """mcp turns both into the same isError result; `watched` tells them apart, signature intact."""

    async def crashing(ctx: Context, job_id: str, details: bool = True) -> CallToolResult:
        raise RuntimeError("a bug, with text that must stay out of telemetry: " + SENSITIVE)

    async def refusing(ctx: Context, job_id: str) -> CallToolResult:
        raise ToolError("refused: " + SENSITIVE)

    server: MCPServer = MCPServer("t")
    server.middleware.append(telemetry.trace_tool_calls)
    server.add_tool(telemetry.watched(crashing), name="get-job")
    server.add_tool(telemetry.watched(refusing), name="list-jobs")
    bare: MCPServer = MCPServer("bare")
    bare.add_tool(crashing, name="get-job")
    async with Client(server) as client, Client(bare) as plain:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        assert tools["get-job"] == next(t.input_schema for t in (await plain.list_tools()).tools)
        crashed = await client.call_tool("get-job", {"job_id": "j1"})
        refused = await client.call_tool("list-jobs", {"job_id": "j1"})
        unknown = await client.call_tool("no-such-tool", {})
    assert crashed.is_error and refused.is_error and unknown.is_error
    judged = {
        (s.attributes["gen_ai.tool.name"], s.attributes["iac_mcp.outcome"], s.attributes["error.type"])
        for s in recorded.tool_spans()
    }
    assert judged == {
        ("get-job", "error", "RuntimeError"),
        ("list-jobs", "tool_error", "tool_error"),
        ("unknown", "tool_error", "tool_error"),
    }
    assert SENSITIVE not in recorded.everything() and "no-such-tool" not in "".join(
        json.dumps(dict(s.attributes or {})) for s in recorded.tool_spans()
    )


# --- Upstream metering -------------------------------------------------------------------


def test_routes_are_templates_never_raw_paths() -> None:
    prefix = "/api/v2/infrastructureascode"
    assert route_of(f"{prefix}/jobs/{MISSING}") == f"{prefix}/jobs/{{jobId}}"
    assert route_of(f"{prefix}/accelerators/{MISSING}") == f"{prefix}/accelerators/{{acceleratorId}}"
    assert route_of(f"{prefix}/jobs") == f"{prefix}/jobs" and route_of("/oauth/token") == "/oauth/token"
    for hostile in (f"{prefix}/jobs/", f"{prefix}/jobs/a/b", "/api/v2/users/me", "/", "", f"{prefix}/jobs/{SENSITIVE}/x"):
        assert route_of(hostile) == OTHER_ROUTE, hostile


def test_a_correlation_id_is_kept_only_when_it_looks_like_one() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(500, headers={"ININ-Correlation-Id": value})

    assert correlation_id_of(answer(MISSING)) == MISSING
    assert correlation_id_of(httpx.Response(500)) is None
    for hostile in (f"id {SENSITIVE}", "a\tb", "x" * 200, "../../etc"):
        assert correlation_id_of(answer(hostile)) is None, hostile


async def test_an_unanswered_request_is_metered_as_its_failure_and_raised() -> None:
    seen: list[Exchange] = []
    async with httpx.AsyncClient(transport=MeteringTransport(httpx.AsyncHTTPTransport(), seen.append)) as client:
        with pytest.raises(httpx.ConnectError):  # nothing listens on a port just freed
            await client.get(f"http://{HOST}:{free_port()}/api/v2/infrastructureascode/jobs?secret={SENSITIVE}")
    assert [(e.method, e.route, e.status, e.error) for e in seen] == [("GET", ROUTES[2], None, "ConnectError")]


def test_nothing_is_set_up_or_metered_without_the_variables() -> None:
    """In a fresh interpreter: no SDK import, no provider, the transport left as it is."""
    script = """
import sys, httpx
from iac_mcp import startup, telemetry, upstream
from opentelemetry import trace
assert telemetry.requested({}) == ()
assert telemetry.requested({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}) == ()
assert telemetry.requested({"OTEL_SERVICE_NAME": "x"}) == ("OTEL_SERVICE_NAME",)
assert not telemetry.configure({"OTEL_SDK_DISABLED": "TRUE", "OTEL_SERVICE_NAME": "x"})
assert not telemetry.configure({})
transport = httpx.AsyncHTTPTransport()
assert upstream.metered(transport) is transport
assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.metrics"))))
"""
    run = subprocess.run([sys.executable, "-c", script], env=CLEAN_ENV, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


async def test_metered_wraps_while_telemetry_records(recorded: Recorded) -> None:
    inner = httpx.AsyncHTTPTransport()
    assert isinstance(metered(inner), MeteringTransport)
    await inner.aclose()


# --- JSON logs ---------------------------------------------------------------------------


def test_a_json_log_line_is_one_line_whatever_the_text(recorded: Recorded) -> None:
    formatter = telemetry.JsonFormatter()
    hostile = 'line one\nline two\r\u2028"}{"level": "CRITICAL"} \x1b[31m'
    record = logging.LogRecord("iac_mcp.test", logging.WARNING, __file__, 1, "said %s", (hostile,), None)
    outside = formatter.format(record)
    with PROVIDER.get_tracer("test").start_as_current_span("a span") as span:
        inside = formatter.format(record)
    try:
        raise ValueError(hostile)
    except ValueError:
        failed = formatter.format(logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info()))
    for line in (outside, inside, failed):
        assert len(line.splitlines()) == 1 and line.isascii(), line
    first, second, third = json.loads(outside), json.loads(inside), json.loads(failed)
    assert first["message"] == f"said {hostile}" and first["level"] == "WARNING" and first["logger"] == "iac_mcp.test"
    assert set(first) == {"time", "level", "logger", "pid", "message"}
    assert second["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert second["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert "ValueError" in third["exception"]


# --- The real command --------------------------------------------------------------------


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP collector on a free local port, keeping each body by path."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Receiver)
        self.bodies: dict[str, list[bytes]] = {}


class Receiver(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet: the test reads the bodies."""


@contextmanager
def collector() -> Iterator[tuple[str, dict[str, list[bytes]]]]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.bodies
    finally:
        server.shutdown()
        server.server_close()


def exported_spans(bodies: dict[str, list[bytes]]) -> list[Any]:
    requests = [ExportTraceServiceRequest.FromString(b) for b in bodies.get("/v1/traces", [])]
    return [span for r in requests for rs in r.resource_spans for ss in rs.scope_spans for span in ss.spans]


def exported_metric_names(bodies: dict[str, list[bytes]]) -> set[str]:
    requests = [ExportMetricsServiceRequest.FromString(b) for b in bodies.get("/v1/metrics", [])]
    return {m.name for r in requests for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def attributes_of(span: Any) -> dict[str, Any]:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


@pytest.mark.slow
async def test_serve_exports_over_otlp_http_and_logs_json_without_a_secret(recorded: Recorded) -> None:
    """The real `iac-mcp serve` against a sandbox over HTTP, with the standard variables set.

    The test's client records its own spans (`recorded`): mcp carries their context in `_meta`,
    so the server's spans join the client's trace, across the process boundary."""
    app = sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    witness = Witness()
    with (
        collector() as (endpoint, bodies),
        running_sandbox(app=app) as url,
        tempfile.TemporaryFile("w+", encoding="utf-8") as stderr,
    ):
        env = CLEAN_ENV | {
            "GENESYSCLOUD_API_REGION": url,
            "GENESYSCLOUD_OAUTHCLIENT_ID": CLIENT_ID,
            "GENESYSCLOUD_OAUTHCLIENT_SECRET": CLIENT_SECRET,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
        }
        command = ["-m", "iac_mcp", "serve", "--log-format", "json", "--log-level", "DEBUG"]
        server = StdioServerParameters(command=sys.executable, args=command, env=env)
        with anyio.fail_after(90):
            async with Client(stdio_client(server, errlog=stderr), mode="auto", elicitation_callback=witness.consent) as client:
                await exercise(client, witness)
                last = "prompts/get review-recent-jobs"  # what exercise() does last: all before it is exported by then
                while last not in {s.name for s in exported_spans(bodies)} or (
                    "iac_mcp.upstream.requests" not in exported_metric_names(bodies)
                ):
                    await anyio.sleep(0.1)
        stderr.seek(0)
        logged = stderr.read()

    spans = exported_spans(bodies)
    by_id = {span.span_id: span for span in spans}
    ours = [s for s in spans if s.name.startswith("execute_tool ")]
    assert ours and all(by_id[s.parent_span_id].name == s.name.replace("execute_tool", "tools/call") for s in ours)
    sent = {span.context.span_id: span for span in recorded.spans() if span.kind is SpanKind.CLIENT}
    for call in (by_id[s.parent_span_id] for s in ours):
        client_span = sent[int.from_bytes(call.parent_span_id, "big")]
        assert client_span.name == f"MCP send {call.name}" and client_span.context.trace_id == int.from_bytes(
            call.trace_id, "big"
        )
    assert {
        "iac_mcp.tool.calls",
        "iac_mcp.tool.duration",
        "iac_mcp.tool.errors",
        "iac_mcp.upstream.duration",
    } <= exported_metric_names(bodies)
    resource = ExportTraceServiceRequest.FromString(bodies["/v1/traces"][0]).resource_spans[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "iac-mcp"

    lines = [json.loads(line) for line in logged.splitlines()]
    assert lines and all({"time", "level", "logger", "pid", "message"} <= line.keys() for line in lines)
    traced = {line["trace_id"] for line in lines if "trace_id" in line}
    assert traced & {s.trace_id.hex() for s in ours}, "log lines inside a tool call carry its trace id"

    plan_tokens = {token for seen in witness.seen for token in PLAN_TOKEN.findall(seen)}
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    raw = b"".join(b for path in bodies.values() for b in path)
    for secret in [CLIENT_SECRET, basic, SENSITIVE, *app.state.sandbox.tokens, *plan_tokens]:
        assert secret not in logged, "a secret reached the JSON log"
        assert secret.encode() not in raw, "a secret reached the OTLP export"
    assert any(attributes_of(s).get("iac_mcp.genesys.job_id") for s in ours)


def test_without_the_extra_one_warning_names_it_and_the_server_serves() -> None:
    """The variables set, the SDK not importable: one warning line, then the stdio server runs
    (and ends at the end of its input)."""
    script = """
import sys
class NoSdk:
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, NoSdk())
from iac_mcp.startup import main
sys.exit(main(["serve", "--sandbox"]))
"""
    env = CLEAN_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "iac-mcp-test"}
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "iac-mcp[otel]" in line]
    assert len(warnings) == 1 and " WARNING " in warnings[0], run.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in warnings[0] and "Traceback" not in run.stderr
    assert "Serving MCP over stdio" in run.stderr


def test_serve_http_logs_json_lines_only_uvicorns_too() -> None:
    """uvicorn sets its own text handlers before the app is built; the app's logging takes them over."""
    port = free_port()
    args = cli("serve", "--http", "--sandbox", "--host", HOST, "--port", str(port), "--log-format", "json")
    process = subprocess.Popen(args, env=CLEAN_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    answered = False
    try:
        deadline = time.monotonic() + 60
        while not answered and time.monotonic() < deadline:
            try:
                answered = httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert answered, stderr[-2000:]
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert {"uvicorn.error", "uvicorn.access", "iac_mcp.http"} <= {line["logger"] for line in lines}
