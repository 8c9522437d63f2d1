"""Pydantic models mirroring the Genesys Cloud IaC API on the wire.

Field names are snake_case with camelCase aliases, exactly as the API spells them.
The models are liberal in what they accept, because real data is untidy:

* unknown fields are ignored, and so are the nulls the official SDKs tolerate
  (`name: null`, a missing `id`, `entities: null`, a `null` property, an object default);
* one malformed entry of an accelerator listing is skipped with a warning, not the page;
* enum-like fields (`origin`, `type`, `visibility`, job `status`) stay plain strings,
  compared case-insensitively through the helpers below, and keep their original
  spelling for display;
* `sensitive` and `default` arrive as strings (`"false"`, `"25"`) or JSON scalars;
* `presentation[].schema.properties` is a list of single-key maps, not a JSON Schema;
* job history arrives as one job, a listing (`{"entities": [...]}`) or a bare array;
  anything else is an error naming what arrived, never an empty history.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

logger = logging.getLogger(__name__)


class WireModel(BaseModel):
    """Base for wire models: camelCase aliases, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as Genesys sends it (aliases, no unset fields)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def scalar_text(value: Any) -> str | None:
    """Genesys' string form of a JSON scalar: `true` -> "true", `25` -> "25"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


def lenient_text(value: Any) -> str | None:
    """`scalar_text`, with objects and arrays as their JSON text (the SDKs type these fields as strings)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return scalar_text(value)


def _present(value: Any) -> list[Any]:
    """A list field as the SDKs read it: null is empty, null items are dropped."""
    return [item for item in value if item is not None] if isinstance(value, list) else value if value else []


def same(a: str | None, b: str | None) -> bool:
    """Case-insensitive comparison for the API's enum-like strings."""
    return (a or "").casefold() == (b or "").casefold()


# --- Query vocabulary ---------------------------------------------------------------
# The values the API's query parameters take, as the API spells them; shared by the
# tools' input schemas and the sandbox's parameter checks.

Origin = Literal["genesys", "partner", "community"]
AcceleratorType = Literal["module", "accelerator", "blueprint"]
AcceleratorSortField = Literal["name", "id", "type", "origin", "classification"]
JobSortField = Literal["dateSubmitted", "id", "submittedBy", "acceleratorId", "status"]
SortOrder = Literal["asc", "desc"]
PreferredLanguage = Literal[
    "ar", "cs", "da", "de", "en-US", "es", "fi", "fr", "it", "iw", "ko", "ja",
    "nl", "no", "pl", "pt-BR", "pt-PT", "sv", "th", "tr", "zh-CN", "zh-TW",
]  # fmt: skip


# --- Accelerators -----------------------------------------------------------------


class AcceleratorMetadata(WireModel):
    id: str = ""
    name: str = ""
    description: str | None = None
    origin: str | None = None
    type: str | None = None
    classification: str | None = None
    tags: list[str] = Field(default_factory=list)
    self_uri: str | None = None

    @field_validator("id", "name", mode="before")
    @classmethod
    def _null_text(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("tags", mode="before")
    @classmethod
    def _null_tags(cls, value: Any) -> Any:
        return _present(value)


class AcceleratorList(WireModel):
    entities: list[AcceleratorMetadata] = Field(default_factory=list)
    page_size: int | None = None
    page_number: int | None = None
    total: int | None = None
    page_count: int | None = None
    first_uri: str | None = None
    next_uri: str | None = None
    previous_uri: str | None = None
    last_uri: str | None = None
    self_uri: str | None = None

    @field_validator("entities", mode="before")
    @classmethod
    def _readable_entries(cls, value: Any) -> Any:
        """Every entry that reads; a malformed one is logged and skipped so the page survives."""
        if not isinstance(value, list):
            return _present(value)
        kept: list[AcceleratorMetadata] = []
        for index, item in enumerate(value):
            try:
                kept.append(AcceleratorMetadata.model_validate(item))
            except ValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in error["loc"]) or "entry" for error in exc.errors())
                logger.warning("skipping malformed accelerator listing entry %d (%s)", index, fields)
        return kept


class MetadataProperty(WireModel):
    """One parameter of an accelerator's form."""

    type: str = "string"
    displayname: str | None = Field(default=None, validation_alias=AliasChoices("displayname", "displayName"))
    description: str | None = None
    sensitive: str | None = None
    help: str | None = None
    default: str | None = None
    enum: list[str] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _null_type(cls, value: Any) -> Any:
        return "string" if value is None else value

    @field_validator("sensitive", "default", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> str | None:
        return lenient_text(value)

    @field_validator("enum", mode="before")
    @classmethod
    def _enum_scalars(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [lenient_text(v) for v in value if v is not None]
        return value

    @property
    def is_sensitive(self) -> bool:
        """Anything but a clear false is sensitive: masking too much is safe, leaking is not."""
        return self.sensitive is not None and self.sensitive.strip().casefold() != "false"


class MetadataSchema(WireModel):
    title: str | None = None
    description: str | None = None
    type: str | None = None
    properties: list[dict[str, MetadataProperty]] = Field(default_factory=list)
    required: list[str] = Field(default_factory=list)

    @field_validator("properties", mode="before")
    @classmethod
    def _single_key_maps(cls, value: Any) -> Any:
        """Accept the wire's list of single-key maps, or a JSON-Schema-style object."""
        if isinstance(value, dict):
            value = [{name: prop} for name, prop in value.items()]
        entries = [entry for entry in _present(value) if isinstance(entry, dict)]
        return [{name: prop if prop is not None else {} for name, prop in entry.items()} for entry in entries]

    @field_validator("required", mode="before")
    @classmethod
    def _null_required(cls, value: Any) -> Any:
        return _present(value)

    def named_properties(self) -> list[tuple[str, MetadataProperty]]:
        """The properties in form order as (name, property) pairs."""
        return [(name, prop) for entry in self.properties for name, prop in entry.items()]


class MetadataPresentation(WireModel):
    """One page of the parameter form. Older specs list `fields` instead of a `schema`."""

    title: str | None = None
    description: str | None = None
    schema_: MetadataSchema | None = Field(default=None, alias="schema")
    fields: list[str] | None = None


class Documentation(WireModel):
    description: str | None = None
    location: str | None = None


class ResultEntity(WireModel):
    type: str | None = None
    description: str | None = None
    visibility: str | None = None


class AcceleratorResults(WireModel):
    entities: list[ResultEntity] = Field(default_factory=list)

    @field_validator("entities", mode="before")
    @classmethod
    def _null_entities(cls, value: Any) -> Any:
        return _present(value)


class AcceleratorSpecification(AcceleratorMetadata):
    permissions: list[str] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list)
    documentation: list[Documentation] = Field(default_factory=list)
    presentation: list[MetadataPresentation] = Field(default_factory=list)
    results: AcceleratorResults | None = None

    @field_validator("permissions", "products", "documentation", "presentation", mode="before")
    @classmethod
    def _null_lists(cls, value: Any) -> Any:
        return _present(value)


# --- Jobs -------------------------------------------------------------------------


class JobParameter(WireModel):
    name: str
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> str | None:
        return scalar_text(value)


class AcceleratorInput(WireModel):
    """The body of `POST /jobs`."""

    accelerator_id: str
    dry_run: bool = False
    parameters: list[JobParameter] = Field(default_factory=list)


class DomainEntityRef(WireModel):
    id: str | None = None
    name: str | None = None
    self_uri: str | None = None


class ErrorInfo(WireModel):
    message: str | None = None
    code: str | None = None


RUNNING_STATUSES = ("Created", "Queued", "Running")
TERMINAL_STATUSES = (
    "Complete",
    "Failed",
    "Incomplete",
    "InternalError",
    "RollbackComplete",
    "RollbackFailed",
)
HistoryStatus = Literal["Created", "Queued", "Running", "Complete", "Failed", "Incomplete"]
"""The statuses the job history can be filtered by."""
HISTORY_STATUS_FILTERS: tuple[str, ...] = get_args(HistoryStatus)


def is_terminal(status: str | None) -> bool:
    """Whether a job status is final. Unknown statuses count as still running."""
    return any(same(status, s) for s in TERMINAL_STATUSES)


class InfrastructureascodeJob(WireModel):
    id: str
    dry_run: bool | None = None
    accelerator_id: str | None = None
    date_submitted: str | None = None
    submitted_by: DomainEntityRef | None = None
    status: str | None = None
    error_info: ErrorInfo | None = None
    results: str | None = None
    rollback_results: str | None = None
    self_uri: str | None = None

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.status)


def parse_job_history(payload: Any) -> list[InfrastructureascodeJob]:
    """Jobs from any of the three shapes the history endpoint may answer with.

    `{}` (a single job that is no job) and `entities: null` are an empty history; any other
    object without `id` or `entities` raises ValueError naming its keys, because reading it
    as "no jobs" would make reconciliation conclude that a submitted job does not exist.
    """
    if payload is None:
        return []
    if isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict) and "entities" in payload and isinstance(payload["entities"], (list, type(None))):
        items = payload["entities"] or []
    elif isinstance(payload, dict) and payload.get("id"):
        items = [payload]
    elif isinstance(payload, dict) and not payload:
        items = []
    elif isinstance(payload, dict):
        raise ValueError(f"unrecognised job history object with keys {', '.join(sorted(map(str, payload)))[:300]}")
    else:
        raise ValueError(f"unexpected job history payload of type {type(payload).__name__}")
    return [InfrastructureascodeJob.model_validate(item) for item in items if item is not None]


# --- Errors -----------------------------------------------------------------------


class ErrorDetail(WireModel):
    error_code: str | None = None
    field_name: str | None = None
    entity_id: str | None = None
    entity_name: str | None = None


class LimitInfo(WireModel):
    key: str | None = None
    namespace: str | None = None
    value: int | None = None


class ErrorBody(WireModel):
    """Genesys' error body, shared by every endpoint."""

    message: str | None = None
    code: str | None = None
    status: int | None = None
    message_with_params: str | None = None
    message_params: dict[str, str] | None = None
    context_id: str | None = None
    details: list[ErrorDetail] = Field(default_factory=list)
    errors: list[ErrorBody] = Field(default_factory=list)
    entity_id: str | None = None
    entity_name: str | None = None
    limit: LimitInfo | None = None

    @field_validator("details", "errors", mode="before")
    @classmethod
    def _null_lists(cls, value: Any) -> Any:
        return value or []

    @field_validator("message_params", mode="before")
    @classmethod
    def _param_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): scalar_text(v) if not isinstance(v, (dict, list)) else json.dumps(v) for k, v in value.items()}
        return value


class TokenResponse(BaseModel):
    """The OAuth token answer (snake_case on the wire)."""

    model_config = ConfigDict(extra="ignore")

    access_token: str
    token_type: str = "bearer"
    expires_in: int = 86400
