"""Every option of the server, in one typed object, read once and validated at start-up.

Each field is set by its environment variable (the name is the field's alias) or by the
command-line flag of the same meaning; a flag wins. Nothing is written back to the
environment: uvicorn workers receive the validated object itself. An invalid value of
any variable or flag becomes one `SettingsError` naming the variables and the allowed
values, never quoting what was given (it may be a secret).
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.logic.plan_token import PLAN_TOKEN_PURPOSE, derive_key

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Tool arguments are small; a megabyte is generous and keeps memory per request bounded."""


MIN_SECRET_LENGTH = 32
"""Bearer tokens and the signing key are guessable below this."""

_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


class Mode(StrEnum):
    """What submit-job may do: nothing, plans only, or guarded real runs."""

    READ_ONLY = "read-only"
    DRY_RUN_ONLY = "dry-run-only"
    APPLY = "apply"


class ConsentPolicy(StrEnum):
    """How a real run is consented to: the user is asked, or the operator waived the question."""

    ASK = "ask"
    PLAN_TOKEN = "plan-token"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Transport(StrEnum):
    STDIO = "stdio"
    HTTP = "http"


class SettingsError(ConfigurationError):
    """The configuration cannot work; the message names every variable at fault."""


Listed = Annotated[tuple[str, ...], NoDecode]
"""A comma-separated variable (`a,b`) or a repeated flag."""


class Settings(BaseSettings):
    """The configuration of `iac-mcp serve`, `check`, `demo` and `audit`."""

    model_config = SettingsConfigDict(case_sensitive=True, populate_by_name=True, extra="ignore", frozen=True)

    # Genesys Cloud (the names the CX as Code provider and the gc CLI use)
    client_id: str | None = Field(None, validation_alias="GENESYSCLOUD_OAUTHCLIENT_ID", description="OAuth client id")
    client_secret: SecretStr | None = Field(
        None, validation_alias="GENESYSCLOUD_OAUTHCLIENT_SECRET", description="OAuth client secret"
    )
    region: str | None = Field(
        None, validation_alias="GENESYSCLOUD_REGION", description="region id (eu-west-1) or domain (mypurecloud.ie)"
    )
    api_region: str | None = Field(
        None, validation_alias="GENESYSCLOUD_API_REGION", description="full API base URL, overriding the region"
    )
    access_token: SecretStr | None = Field(
        None, validation_alias="GENESYSCLOUD_ACCESS_TOKEN", description="a ready token instead of the client pair"
    )

    # The embedded sandbox
    sandbox: bool = Field(False, validation_alias="IAC_MCP_SANDBOX", description="use the embedded sandbox")
    catalog: Listed = Field((), validation_alias="IAC_MCP_SANDBOX_CATALOG", description="extra spec directories")
    job_duration: float = Field(
        3.0, ge=0, le=3600, validation_alias="IAC_MCP_SANDBOX_JOB_DURATION", description="seconds a sandbox job takes"
    )

    # The server
    mode: Mode = Field(Mode.APPLY, validation_alias="IAC_MCP_MODE", description="what submit-job may do")
    consent: ConsentPolicy = Field(
        ConsentPolicy.ASK, validation_alias="IAC_MCP_CONSENT", description="how a real run is consented to"
    )
    signing_key: SecretStr | None = Field(
        None, validation_alias="IAC_MCP_SIGNING_KEY", description="secret for plan tokens and sealed request state"
    )
    database_url: SecretStr | None = Field(
        None, validation_alias="IAC_MCP_DATABASE_URL", description="the ledger (default: SQLite in the state directory)"
    )
    log_level: LogLevel = Field(LogLevel.INFO, validation_alias="IAC_MCP_LOG_LEVEL", description="stderr log level")

    # Streamable HTTP
    transport: Transport = Field(Transport.STDIO, validation_alias="IAC_MCP_TRANSPORT", description="stdio or http")
    host: str = Field("127.0.0.1", validation_alias="IAC_MCP_HTTP_HOST", description="address to bind")
    port: int = Field(8000, ge=0, le=65535, validation_alias="IAC_MCP_HTTP_PORT", description="port to bind")
    workers: int = Field(1, ge=1, le=64, validation_alias="IAC_MCP_HTTP_WORKERS", description="worker processes")
    http_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), validation_alias="IAC_MCP_HTTP_TOKENS", description="comma-separated bearer tokens"
    )
    token_file: Path | None = Field(None, validation_alias="IAC_MCP_HTTP_TOKEN_FILE", description="bearer tokens, one a line")
    insecure_no_auth: bool = Field(
        False, validation_alias="IAC_MCP_HTTP_INSECURE_NO_AUTH", description="allow a non-loopback bind without tokens"
    )
    allowed_hosts: Listed = Field((), validation_alias="IAC_MCP_HTTP_ALLOWED_HOSTS", description="extra Host headers")
    allowed_origins: Listed = Field((), validation_alias="IAC_MCP_HTTP_ALLOWED_ORIGINS", description="extra Origins")
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1024, validation_alias="IAC_MCP_HTTP_MAX_BODY_BYTES", description="larger bodies: 413"
    )
    stateful: bool = Field(
        False, validation_alias="IAC_MCP_HTTP_STATEFUL", description="keep handshake-era sessions (one process only)"
    )
    proxy_headers: bool = Field(
        False, validation_alias="IAC_MCP_HTTP_PROXY_HEADERS", description="trust X-Forwarded-* from trusted proxies"
    )
    forwarded_allow_ips: str | None = Field(
        None, validation_alias="IAC_MCP_HTTP_FORWARDED_ALLOW_IPS", description="the proxies trusted"
    )
    uvicorn_log_level: str = Field("info", validation_alias="IAC_MCP_HTTP_UVICORN_LOG_LEVEL", description="uvicorn's")

    @field_validator("catalog", "allowed_hosts", "allowed_origins", "http_tokens", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("client_id", "region", "api_region", "client_secret", "access_token", "signing_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("client_id", "client_secret", "access_token", "signing_key", "http_tokens", mode="after")
    @classmethod
    def _visible_ascii(cls, value: Any) -> Any:
        """Credentials go into HTTP headers: anything but visible ASCII is refused, never echoed."""
        for item in value if isinstance(value, tuple) else (value,):
            text = item.get_secret_value() if isinstance(item, SecretStr) else item
            if text is not None and not _VISIBLE_ASCII.fullmatch(text):
                raise ValueError("must be visible ASCII characters only (no spaces, line breaks or other characters)")
        return value

    @field_validator("signing_key", mode="after")
    @classmethod
    def _long_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("http_tokens", mode="after")
    @classmethod
    def _long_tokens(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(token.get_secret_value()) < MIN_SECRET_LENGTH for token in value):
            raise ValueError(f"each token must be at least {MIN_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`)")
        return value

    # --- Derived --------------------------------------------------------------------

    def genesys(self) -> GenesysConfig:
        """Where Genesys Cloud lives and how to log in; `ConfigurationError` naming the variables."""
        return GenesysConfig.from_values(
            region=self.region,
            api_region=self.api_region,
            client_id=self.client_id,
            client_secret=_reveal(self.client_secret),
            access_token=_reveal(self.access_token),
        )

    def plan_signing_key(self) -> bytes:
        """The plan-token key; random (so tokens die with the process) when none is configured."""
        secret = _reveal(self.signing_key)
        return derive_key(secret, PLAN_TOKEN_PURPOSE) if secret else secrets.token_bytes(32)

    def bearer_tokens(self) -> tuple[str, ...]:
        """Every accepted HTTP bearer token: the variable's plus the token file's."""
        tokens = [t.get_secret_value() for t in self.http_tokens]
        if self.token_file is not None:
            lines = self.token_file.read_text(encoding="utf-8").splitlines()
            from_file = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
            if any(len(t) < MIN_SECRET_LENGTH or not _VISIBLE_ASCII.fullmatch(t) for t in from_file):
                raise SettingsError(
                    f"{ENVIRONMENT_VARIABLES['token_file']} (or --token-file) holds a token shorter than "
                    f"{MIN_SECRET_LENGTH} characters or with characters other than visible ASCII."
                )
            tokens += from_file
        return tuple(dict.fromkeys(tokens))


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


ENVIRONMENT_VARIABLES: dict[str, str] = {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}
"""Field name → the environment variable that sets it."""


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from the environment, `overrides` (the command line's flags) winning.

    Raises `SettingsError` naming each variable at fault and what it accepts.
    """
    try:
        return Settings(**(overrides or {}))
    except ValidationError as error:
        raise SettingsError(_explain(error)) from None


def _explain(error: ValidationError) -> str:
    problems = []
    by_variable = {variable: name for name, variable in ENVIRONMENT_VARIABLES.items()}
    for item in error.errors(include_input=False, include_url=False):
        where = str(item["loc"][0]) if item["loc"] else ""
        field = by_variable.get(where, where)
        variable = ENVIRONMENT_VARIABLES.get(field, where)
        annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
        if isinstance(annotation, type) and issubclass(annotation, StrEnum):
            allowed = ", ".join(member.value for member in annotation)
            problems.append(f"{variable} (or its flag) must be one of {allowed}.")
        else:
            problems.append(f"{variable} (or its flag) is invalid: {item['msg'].removeprefix('Value error, ')}.")
    return " ".join(dict.fromkeys(problems))
