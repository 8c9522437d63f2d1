"""Telemetry: OpenTelemetry spans and metrics of tool calls and upstream requests; JSON logs.

The one module that knows OpenTelemetry. Nothing is set up unless the standard `OTEL_*`
variables ask for it (`configure`), and only then is the SDK imported (the `iac-mcp[otel]`
extra): the base install and its start-up are unaffected. The API, which mcp 2.3 already
uses for its own `tools/call` span, is all the rest needs.

A tool call's span (`execute_tool <tool>`, the GenAI semantic conventions' name) is a child
of mcp's request span. It carries the tool, the org, the outcome, the Genesys job id of a
result that is a job and the correlation id of the upstream answer that failed, and nothing
the caller sent: no parameter, no value, no plan token, no error text (it may quote them).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from iac_mcp import __version__
from iac_mcp.genesys.errors import InvalidIdError
from iac_mcp.genesys.ids import validate_id
from iac_mcp.genesys.metering import Exchange
from iac_mcp.logic.jobs import JobView
from iac_mcp.vocabulary import ToolName

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

log = logging.getLogger("iac_mcp.telemetry")

INSTRUMENTATION = "iac_mcp"
SERVICE_NAME = "iac-mcp"
EXTRA = "iac-mcp[otel]"

ENABLING_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_SERVICE_NAME",
)
"""Any of these set asks for telemetry (unless `OTEL_SDK_DISABLED=true`): without one the
SDK would send to a collector on localhost nobody asked for."""

TOOLS_CALL = "tools/call"
EXECUTE_TOOL = "execute_tool"
UNKNOWN_TOOL = "unknown"
"""The label of a call naming no tool of ours: a client's text never becomes a label."""


class Attribute(StrEnum):
    """Span and metric attribute keys: the semantic conventions' where they exist."""

    OPERATION = "gen_ai.operation.name"
    TOOL = "gen_ai.tool.name"
    METHOD = "mcp.method.name"
    ERROR_TYPE = "error.type"
    ORG = "iac_mcp.org"
    OUTCOME = "iac_mcp.outcome"
    JOB_ID = "iac_mcp.genesys.job_id"
    CORRELATION_ID = "iac_mcp.genesys.correlation_id"
    HTTP_METHOD = "http.request.method"
    HTTP_STATUS = "http.response.status_code"
    ROUTE = "url.template"


class Outcome(StrEnum):
    OK = "ok"
    TOOL_ERROR = "tool_error"
    """An `isError` result the agent can act on (the semantic conventions' `error.type`)."""
    ERROR = "error"
    """The handler crashed, or the call failed as a protocol error."""
    INPUT_REQUIRED = "input_required"
    """A 2026-07-28 round that asked the client (for consent) and will be called again."""


DEFAULT_ORG = "default"
CURRENT_ORG: ContextVar[str] = ContextVar("iac_mcp_org", default=DEFAULT_ORG)
"""The org (profile name) a tool call acts on, as telemetry labels it; the server sets it
for each call (`iac_mcp.server.services.bound_calls`)."""


@dataclass
class _Call:
    """What the layers below learn during one tool call, for its span."""

    correlation_id: str | None = None
    crash: str | None = None


_CALL: ContextVar[_Call | None] = ContextVar("iac_mcp_tool_call", default=None)


class Telemetry:
    """The instruments of one process, from the providers it was started with."""

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self.tracer = tracer_provider.get_tracer(INSTRUMENTATION, __version__)
        meter = meter_provider.get_meter(INSTRUMENTATION, __version__)
        self.calls = meter.create_counter("iac_mcp.tool.calls", unit="{call}", description="Tool calls, by tool and outcome")
        self.errors = meter.create_counter(
            "iac_mcp.tool.errors", unit="{call}", description="Tool calls that ended in a tool error or an error"
        )
        self.duration = meter.create_histogram("iac_mcp.tool.duration", unit="s", description="Tool call duration")
        self.upstream = meter.create_counter(
            "iac_mcp.upstream.requests", unit="{request}", description="Requests to Genesys, by method, route and status"
        )
        self.throttled = meter.create_counter(
            "iac_mcp.upstream.throttled", unit="{request}", description="Requests Genesys answered 429 (rate-limited)"
        )
        self.upstream_duration = meter.create_histogram(
            "iac_mcp.upstream.duration", unit="s", description="Time to Genesys' answer, per attempt"
        )

    async def tool_call(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        tool = _tool_label(ctx.params)
        labels = {Attribute.TOOL.value: tool, Attribute.ORG.value: CURRENT_ORG.get()}
        call = _Call()
        token = _CALL.set(call)
        started = time.perf_counter()
        outcome, error_type, job_id = Outcome.ERROR, "", None
        with self.tracer.start_as_current_span(
            f"{EXECUTE_TOOL} {tool}",
            kind=SpanKind.INTERNAL,
            attributes={Attribute.OPERATION.value: EXECUTE_TOOL, Attribute.METHOD.value: TOOLS_CALL, **labels},
            record_exception=False,  # an exception's text may quote what the call carried
            set_status_on_exception=False,
        ) as span:
            try:
                result = await call_next(ctx)
                outcome, error_type, job_id = _judge(result, call)
                return result
            except BaseException as exc:
                error_type = type(exc).__qualname__
                raise
            finally:
                _CALL.reset(token)
                self._finish(span, labels, outcome, error_type, job_id, call, time.perf_counter() - started)

    def _finish(
        self,
        span: Span,
        labels: dict[str, str],
        outcome: Outcome,
        error_type: str,
        job_id: str | None,
        call: _Call,
        seconds: float,
    ) -> None:
        span.set_attribute(Attribute.OUTCOME.value, outcome.value)
        if job_id:
            span.set_attribute(Attribute.JOB_ID.value, job_id)
        counted = {**labels, Attribute.OUTCOME.value: outcome.value}
        if error_type:
            span.set_attribute(Attribute.ERROR_TYPE.value, error_type)
            if call.correlation_id:
                span.set_attribute(Attribute.CORRELATION_ID.value, call.correlation_id)
            span.set_status(StatusCode.ERROR)
            self.errors.add(1, {**counted, Attribute.ERROR_TYPE.value: error_type})
        self.calls.add(1, counted)
        self.duration.record(seconds, counted)

    def upstream_exchange(self, exchange: Exchange) -> None:
        labels: dict[str, str | int] = {Attribute.HTTP_METHOD.value: exchange.method, Attribute.ROUTE.value: exchange.route}
        if exchange.status is not None:
            labels[Attribute.HTTP_STATUS.value] = exchange.status
        if exchange.error is not None:
            labels[Attribute.ERROR_TYPE.value] = exchange.error
        self.upstream.add(1, labels)
        self.upstream_duration.record(exchange.seconds, labels)
        if exchange.status == 429:
            self.throttled.add(1, labels)
        failed = exchange.status is None or exchange.status >= 400
        call = _CALL.get()
        if failed and call is not None and exchange.correlation_id:
            call.correlation_id = exchange.correlation_id


_TOOL_NAMES = frozenset(tool.value for tool in ToolName)


def _tool_label(params: Mapping[str, Any] | None) -> str:
    name = params.get("name") if params else None
    return name if isinstance(name, str) and name in _TOOL_NAMES else UNKNOWN_TOOL


def _judge(result: HandlerResult, call: _Call) -> tuple[Outcome, str, str | None]:
    """Outcome, `error.type` ("" when none) and job id of a `tools/call` result, model or dict."""
    data = result.model_dump(by_alias=True, exclude={"content"}) if isinstance(result, BaseModel) else dict(result or {})
    if data.get("resultType") == Outcome.INPUT_REQUIRED:
        return Outcome.INPUT_REQUIRED, "", None
    if data.get("isError") is True:
        if call.crash:
            return Outcome.ERROR, call.crash, None
        return Outcome.TOOL_ERROR, Outcome.TOOL_ERROR.value, None
    return Outcome.OK, "", _job_id(data.get("structuredContent"))


_JOB_KEYS = frozenset(name for name, field in JobView.model_fields.items() if field.is_required())


def _job_id(structured: Any) -> str | None:
    """The id of a result that is a job (get-job) or holds one under `job` (submit-job)."""
    for candidate in (structured, structured.get("job") if isinstance(structured, dict) else None):
        if isinstance(candidate, dict) and candidate.keys() >= _JOB_KEYS:
            try:
                return validate_id(candidate["id"], "job id")
            except InvalidIdError:
                return None
    return None


P = ParamSpec("P")
R = TypeVar("R")


def watched(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Marks the call as crashed when the handler raises anything but a `ToolError`: mcp turns
    both into the same `isError` result, and only here can they be told apart. Keeps the
    handler's signature (`functools.wraps`), from which mcp derives the tool's schema."""

    @functools.wraps(handler)
    async def watch(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except (ToolError, MCPError):
            raise
        except Exception as exc:
            call = _CALL.get()
            if call is not None:
                call.crash = type(exc).__qualname__
            raise

    return watch


# --- The process's telemetry ---------------------------------------------------------


@dataclass
class _Process:
    recorder: Telemetry | None = None


_process = _Process()


def active() -> Telemetry | None:
    return _process.recorder


def start(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Telemetry:
    """Record from now on into these providers (tests pass in-memory ones)."""
    _process.recorder = Telemetry(tracer_provider, meter_provider)
    return _process.recorder


def stop() -> None:
    _process.recorder = None


async def trace_tool_calls(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: a span and metrics for each `tools/call`; a pass-through otherwise."""
    recorder = _process.recorder
    if recorder is None or ctx.method != TOOLS_CALL:
        return await call_next(ctx)
    return await recorder.tool_call(ctx, call_next)


def upstream_observer() -> Callable[[Exchange], None] | None:
    """What meters upstream requests, or None when nothing records (then nothing is wrapped)."""
    return _observe_upstream if _process.recorder is not None else None


def _observe_upstream(exchange: Exchange) -> None:
    recorder = _process.recorder
    if recorder is not None:
        recorder.upstream_exchange(exchange)


def requested(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The `OTEL_*` variables asking for telemetry; none when the SDK is disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    return tuple(name for name in ENABLING_VARIABLES if environ.get(name, "").strip())


def configure(environ: Mapping[str, str] = os.environ) -> bool:
    """Export traces and metrics over OTLP/HTTP when the `OTEL_*` variables ask for it.

    The exporters read the rest of the standard variables themselves (endpoints, headers,
    `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_METRIC_EXPORT_INTERVAL`); `OTEL_TRACES_EXPORTER=none`
    or `OTEL_METRICS_EXPORTER=none` leaves that signal out. Without the extra installed: one
    warning, and the server runs without telemetry. Returns whether telemetry records.
    """
    if _process.recorder is not None:
        return True
    asked = requested(environ)
    if not asked:
        return False
    try:
        from opentelemetry import metrics
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "%s is set but OpenTelemetry's SDK is not installed: serving without telemetry. "
            "Install %s to export traces and metrics.",
            asked[0],
            EXTRA,
        )
        return False
    resource = Resource.create({"service.version": __version__})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    tracer_provider = SdkTracerProvider(resource=resource)
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() != "none":
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    readers: list[MetricReader] = []
    if environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() != "none":
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = SdkMeterProvider(resource=resource, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    start(tracer_provider, meter_provider)
    log.info("OpenTelemetry: exporting traces and metrics over OTLP/HTTP (asked by %s)", ", ".join(asked))
    return True


# --- Logs ----------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, pid, message, and the trace and span ids
    while a span is active. ASCII-escaped, so no text (hostile or not) can break or forge a
    line, whatever a reader counts as a line break."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = trace.format_trace_id(context.trace_id)
            entry["span_id"] = trace.format_span_id(context.span_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=True, default=str)
