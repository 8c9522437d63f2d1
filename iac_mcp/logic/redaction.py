"""Masking secrets before text reaches an agent or a log.

Job results are Terraform output and may print the values of sensitive variables; error
bodies and job payloads may echo them too. Two complementary defences: mask every known
secret value wherever it appears, and mask whatever is assigned to a sensitive name, which
also catches values we were never told (old values in a diff, computed secrets).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MASK = "********"

# Terraform placeholders that hide nothing and must stay readable.
_PLACEHOLDER = r"(?:\(sensitive(?: value)?\)|\(known after apply\)|<sensitive>|null\b)"
_VALUE = (
    r'"(?:[^"\\\n]|\\.)*"'  # double-quoted, with escapes
    r"|'(?:[^'\\\n]|\\.)*'"  # single-quoted (YAML)
    rf"|(?!{_PLACEHOLDER})[^\s,;}}\]]+(?:[ \t]+(?!->)[^\s,;}}\]]+)*"  # bare words, up to a `->`
)


def _value_forms(secrets: Iterable[str]) -> list[str]:
    """Each non-empty secret, plus how it reads inside a JSON or HCL string, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update({secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]})
    return sorted(forms, key=len, reverse=True)


def _mask_forms(text: str, forms: list[str]) -> str:
    """Mask the union of all occurrences, overlapping ones included, one MASK per merged run."""
    spans: list[tuple[int, int]] = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    cursor = 0
    run_start, run_end = spans[0]
    for start, end in spans[1:]:
        if start <= run_end:
            run_end = max(run_end, end)
            continue
        pieces += [text[cursor:run_start], MASK]
        cursor, run_start, run_end = run_end, start, end
    pieces += [text[cursor:run_start], MASK, text[run_end:]]
    return "".join(pieces)


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every non-empty secret (and its JSON-escaped form) with MASK."""
    return _mask_forms(text, _value_forms(secrets))


def _assignment_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = "|".join(re.escape(name) for name in sorted(set(names), key=len, reverse=True) if name)
    if not alternatives:
        return None
    return re.compile(
        rf'(?P<key>(?<![\w"-])(?:{alternatives})(?![\w"-])|"(?:{alternatives})")'
        rf"(?P<op>[ \t]*[=:][ \t]*)(?P<first>{_VALUE})"
        rf"(?:(?P<arrow>[ \t]*->[ \t]*)(?P<second>{_VALUE}))?"
    )


def _masked(value: str | None) -> str:
    if value is None:
        return ""
    if value[:1] in ('"', "'") and len(value) >= 2:
        return value[0] + MASK + value[0]
    return MASK


def _mask_with(pattern: re.Pattern[str] | None, text: str) -> str:
    if pattern is None:
        return text
    return pattern.sub(
        lambda m: m["key"] + m["op"] + _masked(m["first"]) + (m["arrow"] or "") + _masked(m["second"]),
        text,
    )


def mask_assignments(text: str, names: Iterable[str]) -> str:
    """Mask values assigned to sensitive names in HCL, plan diffs, JSON or YAML-ish text.

    Handles `name = "v"`, `name = v`, `"name": "v"`, `name: v` and `~ name = "old" -> "new"`
    (both sides); Terraform's own placeholders such as `(sensitive value)` are left alone.
    """
    return _mask_with(_assignment_pattern(names), text)


def redact(value: Any, secrets: Iterable[str], names: Iterable[str]) -> Any:
    """A copy of a JSON-like value with secrets masked in every string.

    A dict value is masked whole when its key is a sensitive name, and so is the `value` of a
    `{"name": <sensitive name>, "value": ...}` pair, the shape of job parameters on the wire.
    """
    sensitive = frozenset(names)
    forms = _value_forms(secrets)
    pattern = _assignment_pattern(sensitive)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return _mask_with(pattern, _mask_forms(item, forms))
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            named = isinstance(item.get("name"), str) and item["name"] in sensitive and "value" in item
            return {
                key: MASK if key in sensitive or (named and key == "value") else walk(element) for key, element in item.items()
            }
        return item

    return walk(value)
