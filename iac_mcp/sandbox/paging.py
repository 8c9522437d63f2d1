"""Genesys' entity listing: one page of a sorted list, with the page links clients follow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from iac_mcp.sandbox.checks import int_query

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25


def _page_uri(request: Request, path: str, page_size: int, page_number: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("pageSize", "pageNumber")]
    return f"{path}?{urlencode([('pageSize', page_size), ('pageNumber', page_number), *kept])}"


def page_query(request: Request) -> tuple[int, int]:
    """`pageSize` and `pageNumber`, or a 400 naming the one out of range (read before other checks)."""
    return int_query(request, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE), int_query(request, "pageNumber", 1, 1)


def page_of(request: Request, path: str, entities: Sequence[dict[str, Any]], page: tuple[int, int]) -> dict[str, Any]:
    """Page `page` (size, number) of `entities`, as a listing body."""
    page_size, page_number = page
    total = len(entities)
    page_count = math.ceil(total / page_size)
    start = (page_number - 1) * page_size
    body: dict[str, Any] = {
        "entities": list(entities[start : start + page_size]),
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": page_count,
        "firstUri": _page_uri(request, path, page_size, 1),
        "lastUri": _page_uri(request, path, page_size, max(page_count, 1)),
        "selfUri": _page_uri(request, path, page_size, page_number),
    }
    if page_number < page_count:
        body["nextUri"] = _page_uri(request, path, page_size, page_number + 1)
    if page_number > 1:
        body["previousUri"] = _page_uri(request, path, page_size, min(page_number - 1, max(page_count, 1)))
    return body
