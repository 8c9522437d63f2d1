"""Genesys' error body, built one way for every error the sandbox answers.

Clients parse `code`, `status`, `message`, `messageWithParams`/`messageParams`,
`contextId` and `details`, so every error carries all of them; `contextId` equals the
response's `ININ-Correlation-Id` header, as on the real platform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse

CORRELATION_HEADER = "ININ-Correlation-Id"


def correlation_id(request: Request) -> str:
    """The id the gateway gave this request."""
    return str(request.scope["state"]["correlation_id"])


def error_body(
    status: int,
    code: str,
    template: str,
    context_id: str,
    *,
    params: Mapping[str, str] | None = None,
    details: Sequence[tuple[str, str]] = (),
) -> dict[str, object]:
    """The JSON body. With `params`, `template` has `{name}` placeholders to fill; else it is the message."""
    values = dict(params or {})
    return {
        "message": template.format(**values) if values else template,
        "code": code,
        "status": status,
        "messageWithParams": template,
        "messageParams": values,
        "contextId": context_id,
        "details": [{"errorCode": error_code, "fieldName": field} for field, error_code in details],
        "errors": [],
    }


def error_response(
    request: Request,
    status: int,
    code: str,
    template: str,
    *,
    params: Mapping[str, str] | None = None,
    details: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A Genesys error answer for `request`."""
    body = error_body(status, code, template, correlation_id(request), params=params, details=details)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))
