"""Small text helpers that keep what reaches an agent short and honest about cuts."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentences(text: str | None, *, max_chars: int = 240, sentences: int = 2) -> str:
    """The first sentence or two of a description, cut at a word with an ellipsis if still long."""
    if not text:
        return ""
    flat = " ".join(text.split())
    short = " ".join(_SENTENCE_END.split(flat)[:sentences])
    if len(short) <= max_chars:
        return short
    return short[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


class BoundedText(BaseModel):
    """A long text cut to a readable size, saying so."""

    text: str
    truncated: bool = Field(description="True when characters were left out of `text`.")
    full_length: int = Field(description="Length of the original text in characters.")


def bound_text(text: str, limit: int) -> BoundedText:
    """Keep the head and the tail of a long text with a marker between them.

    Terraform puts the plan of each resource first and the verdict (summary line,
    errors, outputs) last, so both ends matter: a third of the budget goes to the head
    and the rest to the tail.
    """
    if len(text) <= limit:
        return BoundedText(text=text, truncated=False, full_length=len(text))
    omitted = len(text) - limit
    marker = f"\n[… {omitted} of {len(text)} characters omitted …]\n"
    head = limit // 3
    tail = limit - head
    return BoundedText(text=text[:head] + marker + text[-tail:], truncated=True, full_length=len(text))
