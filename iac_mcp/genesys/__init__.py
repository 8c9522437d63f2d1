"""Async client of the Genesys Cloud Infrastructure-as-Code API.

Everything a caller needs: the configuration, the client, its retry policy and the typed
errors. The wire models live in `iac_mcp.genesys.models`.
"""

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.config import REGIONS, GenesysConfig
from iac_mcp.genesys.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    GenesysError,
    InvalidIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnexpectedResponseError,
)
from iac_mcp.genesys.retry import RetryPolicy

__all__ = [
    "REGIONS",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "GenesysConfig",
    "GenesysError",
    "IacClient",
    "InvalidIdError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "UnexpectedResponseError",
]
