"""Small text helpers that keep what reaches an agent short and honest about cuts."""

from __future__ import annotations

import re

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


def bound_text(text: str, limit: int) -> str:
    """Keep the head and the tail of a long text with a marker between them saying how much of
    how much was left out.

    Terraform puts the plan of each resource first and the verdict (summary line,
    errors, outputs) last, so both ends matter: a third of the budget goes to the head
    and the rest to the tail.
    """
    if len(text) <= limit:
        return text
    omitted = len(text) - limit
    marker = f"\n[... {omitted} of {len(text)} characters omitted ...]\n"
    head = limit // 3
    tail = limit - head
    return text[:head] + marker + text[-tail:]


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
"""Control characters (tab and newline aside), bidi controls, zero-width and invisible format characters."""


def plain(text: str, *, newlines: bool = True) -> str:
    """Untrusted text made safe to show: no ANSI escapes, control, bidi or zero-width characters.

    Catalogue text and parameter values come from third parties or the agent; without this
    they could hide, reorder or fake lines of what a person is asked to approve.
    """
    cleaned = _INVISIBLE.sub("", _ANSI.sub("", text))
    return cleaned if newlines else " ".join(cleaned.split())


def capped(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 24)] + f"… [{len(text) - limit + 24} more]"


_LINK_SCHEMES = ("https", "http")


def link(url: str | None) -> str | None:
    """An untrusted link kept only when it is a plain `https://` or `http://` URL, else None.

    `javascript:`, `data:`, `file:` and every other scheme are dropped, and so is a URL that
    still holds whitespace once invisible characters are gone (`java\\tscript:` is
    `javascript:` to a browser).
    """
    if not url:
        return None
    cleaned = plain(url).strip()
    if not cleaned or any(c.isspace() for c in cleaned):
        return None
    scheme, separator, rest = cleaned.partition("://")
    if not separator or scheme.lower() not in _LINK_SCHEMES or not rest or rest[0] in "/\\":
        return None
    return cleaned
