"""What an agent sees of accelerators: lean listing entries and a fill-in-ready description."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from iac_mcp.genesys.models import AcceleratorList, AcceleratorMetadata, AcceleratorSpecification
from iac_mcp.logic.forms import Parameter, ParameterForm, form_from_spec, json_schema
from iac_mcp.logic.redaction import MASK
from iac_mcp.logic.text import first_sentences, link, plain
from iac_mcp.vocabulary import ToolName

LISTED_DESCRIPTION_CHARS = 56
"""A listing shows a description's first sentence up to this long: enough to choose by, since
describe-accelerator gives the whole of it with the classification and tags."""


class AcceleratorEntry(BaseModel):
    """One accelerator in a listing: enough to choose, nothing to scroll past."""

    id: str
    name: str
    type: str | None = None
    origin: str | None = None
    description: str = ""


class AcceleratorPage(BaseModel):
    """A page of the accelerator catalogue."""

    accelerators: list[AcceleratorEntry]
    total: int = Field(description="Matches on all pages.")
    page_number: int
    page_count: int
    has_next_page: bool
    next_step: str
    org: str | None = None


def _line(text: str | None) -> str | None:
    """Untrusted catalogue text for one line (names, labels, tags): no hidden characters, no newlines."""
    return None if text is None else plain(text, newlines=False)


def _lines(texts: list[str]) -> list[str]:
    return [plain(t, newlines=False) for t in texts]


def _prose(text: str | None) -> str | None:
    """Untrusted catalogue prose (descriptions): no hidden characters; its newlines stay."""
    return None if text is None else plain(text)


def entry(meta: AcceleratorMetadata) -> AcceleratorEntry:
    """A listing entry. Community and Partner texts are third-party: they reach the agent plain."""
    return AcceleratorEntry(
        id=meta.id,
        name=plain(meta.name, newlines=False),
        type=_line(meta.type),
        origin=_line(meta.origin),
        description=first_sentences(plain(meta.description or ""), max_chars=LISTED_DESCRIPTION_CHARS, sentences=1),
    )


def accelerator_page(listing: AcceleratorList, *, page_number: int, page_size: int) -> AcceleratorPage:
    """The lean page, with paging derived from the listing (falling back to what was asked)."""
    number = listing.page_number or page_number
    size = listing.page_size or page_size
    total = listing.total if listing.total is not None else len(listing.entities)
    count = listing.page_count if listing.page_count is not None else max(1, -(-total // max(size, 1)))
    more = bool(listing.next_uri) or number < count
    if not listing.entities:
        step = "No accelerator matches: try fewer or broader filters."
    else:
        step = f"{ToolName.DESCRIBE_ACCELERATOR} with the id of the one that fits" + (
            f", or page_number={number + 1} for more." if more else "."
        )
    return AcceleratorPage(
        accelerators=[entry(m) for m in listing.entities],
        total=total,
        page_number=number,
        page_count=count,
        has_next_page=more,
        next_step=step,
    )


def render_page(page: AcceleratorPage) -> str:
    if not page.accelerators:
        return page.next_step
    lines = [
        f"{page.total} accelerator(s) match; page {page.page_number} of {page.page_count}"
        + (" (more on the next page)." if page.has_next_page else ".")
    ]
    for a in page.accelerators:
        kind = "/".join(x for x in (a.origin, a.type) if x)
        lines.append(f"- {a.name} [{kind}] id={a.id}" + (f": {a.description}" if a.description else ""))
    lines.append(f"Next: {page.next_step}")
    return "\n".join(lines)


class DocumentationLink(BaseModel):
    description: str | None = None
    url: str | None = None


class CreatedResource(BaseModel):
    type: str | None = None
    description: str | None = None


class AcceleratorDescription(BaseModel):
    """Everything needed to fill in an accelerator's parameters and judge its impact."""

    id: str
    name: str
    description: str | None = None
    type: str | None = None
    origin: str | None = None
    classification: str | None = None
    tags: list[str] = Field(default_factory=list)
    parameters_schema: dict[str, Any]
    """Of submit-job's `parameters`, every parameter described once (`json_schema`), in form order."""
    permissions: list[str] = Field(default_factory=list, description="Needed to install it.")
    products: list[str] = Field(default_factory=list, description="Genesys products it needs.")
    documentation: list[DocumentationLink] = Field(default_factory=list)
    creates: list[CreatedResource] = Field(default_factory=list, description="Resources a run creates.")
    next_step: str
    org: str | None = None


def shown(form: ParameterForm) -> ParameterForm:
    """The form as the agent sees it (`_shown`): what describe-accelerator describes."""
    return form.model_copy(update={"parameters": [_shown(p) for p in form.parameters]})


def _shown(p: Parameter) -> Parameter:
    """A parameter as the agent sees it: plain texts, a safe help link, a sensitive default masked.

    Its name, allowed values and default stay as they are: they are what submit-job takes.
    """
    update: dict[str, Any] = {
        "display_name": _line(p.display_name),
        "description": _prose(p.description),
        "help_url": link(p.help_url),
        "page": _line(p.page),
    }
    if p.sensitive and p.default is not None:
        update["default"] = MASK
    return p.model_copy(update=update)


def describe(spec: AcceleratorSpecification, form: ParameterForm | None = None) -> AcceleratorDescription:
    """Everything about one accelerator. Its texts are third-party: they reach the agent plain,
    and only http(s) documentation and help links are kept. `form`: the spec's, as `shown`."""
    form = form or shown(form_from_spec(spec))
    return AcceleratorDescription(
        id=spec.id,
        name=plain(spec.name, newlines=False),
        description=_prose(spec.description),
        type=_line(spec.type),
        origin=_line(spec.origin),
        classification=_line(spec.classification),
        tags=_lines(spec.tags),
        parameters_schema=json_schema(form),
        permissions=_lines(spec.permissions),
        products=_lines(spec.products),
        documentation=[
            DocumentationLink(description=_line(d.description), url=url)
            for d in spec.documentation
            if (url := link(d.location)) is not None
        ],
        creates=[
            CreatedResource(type=_line(e.type), description=_prose(e.description))
            for e in (spec.results.entities if spec.results else [])
        ],
        next_step=f"{ToolName.SUBMIT_JOB} with these parameters and dry_run=true to see the plan; ask the user for "
        "values you cannot infer.",
    )


def _parameter_line(p: Parameter) -> str:
    facts = [p.type, "required" if p.required else "optional"]
    if p.default is not None:
        facts.append(f"default {p.default!r}")
    if p.allowed_values:
        facts.append("one of " + ", ".join(p.allowed_values))
    if p.sensitive:
        facts.append("sensitive")
    label = f" ({p.display_name})" if p.display_name else ""
    about = f": {first_sentences(p.description, sentences=1)}" if p.description else ""
    return f"- {p.name}{label} [{'; '.join(facts)}]{about}"


def render_description(d: AcceleratorDescription, form: ParameterForm) -> str:
    """The text beside the structured description; `form` is the one it was made of (`shown`)."""
    lines = [f"{d.name} ({'/'.join(x for x in (d.origin, d.type) if x)}) id={d.id}"]
    if d.description:
        lines.append(first_sentences(d.description, max_chars=400, sentences=3))
    lines.append(f"Parameters ({len(form.parameters)}):")
    lines.extend(_parameter_line(p) for p in form.parameters)
    if d.creates:
        lines.append("Creates: " + ", ".join(c.type or "?" for c in d.creates))
    if d.permissions:
        lines.append("Needs permissions: " + ", ".join(d.permissions))
    if d.products:
        lines.append("Needs products: " + ", ".join(d.products))
    lines.append(f"Next: {d.next_step}")
    return "\n".join(lines)
