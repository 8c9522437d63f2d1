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
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.logic.plan_token import PLAN_TOKEN_PURPOSE, derive_key
from iac_mcp.transports.addresses import secure_url_problem
from iac_mcp.transports.identities import NamedToken, name_problem

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Tool arguments are small; a megabyte is generous and keeps memory per request bounded."""


MIN_SECRET_LENGTH = 32
"""Bearer tokens and the signing key are guessable below this."""

_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")

_OAUTH_FIELDS = ("oauth_issuer", "oauth_audience", "oauth_jwks_url", "oauth_resource_url")

NAMED_TOKEN_FORM = "`name:token` (or the token alone, named by its fingerprint)"
"""How a bearer token is written, in the variable and in the token file."""


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


class LogFormat(StrEnum):
    """Lines for people, or one JSON object a line for log pipelines."""

    TEXT = "text"
    JSON = "json"


class Approval(StrEnum):
    """What a real run needs besides its plan token (per profile; this is the server-wide default)."""

    CONSENT = "consent"
    """The consent policy's question to the client (or the plan token alone under `plan-token`)."""
    SIGNED = "signed"
    """An approval by a signed-in Genesys user holding infrastructureascode:job:add in that org."""
    FOUR_EYES = "four-eyes"
    """As signed, by someone other than the requester (two different people when unknown)."""


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
    sandbox_orgs: Listed = Field(
        (), validation_alias="IAC_MCP_SANDBOX_ORGS", description="orgs of the embedded sandbox, one profile each"
    )
    profiles_file: Path | None = Field(None, validation_alias="IAC_MCP_PROFILES", description="the profiles file (TOML)")
    gc_config: Path | None = Field(None, validation_alias="IAC_MCP_GC_CONFIG", description="the gc CLI's config.toml")

    # The server
    mode: Mode = Field(Mode.APPLY, validation_alias="IAC_MCP_MODE", description="what submit-job may do")
    consent: ConsentPolicy = Field(
        ConsentPolicy.ASK, validation_alias="IAC_MCP_CONSENT", description="how a real run is consented to"
    )
    approval: Approval = Field(
        Approval.CONSENT, validation_alias="IAC_MCP_APPROVAL", description="what a real run needs (per profile too)"
    )
    approval_port: int = Field(
        0, ge=0, le=65535, validation_alias="IAC_MCP_APPROVAL_PORT", description="stdio: the approval pages' port (0: a free one)"
    )
    signing_key: SecretStr | None = Field(
        None, validation_alias="IAC_MCP_SIGNING_KEY", description="secret for plan tokens and sealed request state"
    )
    database_url: SecretStr | None = Field(
        None, validation_alias="IAC_MCP_DATABASE_URL", description="the ledger (default: SQLite in the state directory)"
    )
    log_level: LogLevel = Field(LogLevel.INFO, validation_alias="IAC_MCP_LOG_LEVEL", description="stderr log level")
    log_format: LogFormat = Field(LogFormat.TEXT, validation_alias="IAC_MCP_LOG_FORMAT", description="stderr log format")
    call_time_limit: float = Field(
        45.0, ge=5, le=600, validation_alias="IAC_MCP_CALL_TIME_LIMIT", description="seconds a tool call may take upstream"
    )
    waits_per_caller: int = Field(
        4, ge=1, le=100, validation_alias="IAC_MCP_WAITS_PER_CALLER", description="concurrent get-job waits per caller"
    )

    # Streamable HTTP
    transport: Transport = Field(Transport.STDIO, validation_alias="IAC_MCP_TRANSPORT", description="stdio or http")
    host: str = Field("127.0.0.1", validation_alias="IAC_MCP_HTTP_HOST", description="address to bind")
    port: int = Field(8000, ge=0, le=65535, validation_alias="IAC_MCP_HTTP_PORT", description="port to bind")
    workers: int = Field(1, ge=1, le=64, validation_alias="IAC_MCP_HTTP_WORKERS", description="worker processes")
    http_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), validation_alias="IAC_MCP_HTTP_TOKENS", description="comma-separated bearer tokens, each name:token or a token"
    )
    token_file: Path | None = Field(
        None, validation_alias="IAC_MCP_HTTP_TOKEN_FILE", description="bearer tokens, one a line: name:token or a token"
    )
    oauth_issuer: str | None = Field(
        None, validation_alias="IAC_MCP_OAUTH_ISSUER", description="OAuth: the issuer (iss) of accepted JWT access tokens"
    )
    oauth_audience: str | None = Field(
        None, validation_alias="IAC_MCP_OAUTH_AUDIENCE", description="OAuth: the audience (aud) tokens must be issued for"
    )
    oauth_jwks_url: str | None = Field(
        None, validation_alias="IAC_MCP_OAUTH_JWKS_URL", description="OAuth: the issuer's signing keys (JWKS document)"
    )
    oauth_resource_url: str | None = Field(
        None,
        validation_alias="IAC_MCP_OAUTH_RESOURCE_URL",
        description="OAuth: the public URL of /mcp in protected-resource metadata (default: the audience)",
    )
    read_timeout: float = Field(
        10.0, ge=1, le=300, validation_alias="IAC_MCP_HTTP_READ_TIMEOUT", description="seconds to send a whole request"
    )
    limit_concurrency: int = Field(
        100, ge=2, le=100_000, validation_alias="IAC_MCP_HTTP_LIMIT_CONCURRENCY", description="connections per worker; more: 503"
    )
    sessions_per_principal: int = Field(
        10, ge=1, le=10_000, validation_alias="IAC_MCP_HTTP_SESSIONS_PER_PRINCIPAL", description="--stateful sessions per caller"
    )
    session_idle_timeout: float = Field(
        1800.0, ge=1, le=86_400, validation_alias="IAC_MCP_HTTP_SESSION_IDLE_TIMEOUT", description="idle --stateful sessions end"
    )
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

    @field_validator("catalog", "allowed_hosts", "allowed_origins", "http_tokens", "sandbox_orgs", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "client_id", "region", "api_region", "client_secret", "access_token", "signing_key", *_OAUTH_FIELDS, mode="before"
    )
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
    def _named_tokens(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        _unique([(f"item {n}", _named_token(item.get_secret_value(), f"item {n}")) for n, item in enumerate(value, 1)])
        return value

    @field_validator("oauth_issuer", "oauth_jwks_url", "oauth_resource_url", mode="after")
    @classmethod
    def _secure_url(cls, value: str | None) -> str | None:
        problem = secure_url_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
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

    def bearer_tokens(self) -> tuple[NamedToken, ...]:
        """Every accepted HTTP bearer token and its name: the variable's plus the token file's.

        Raises `SettingsError` naming the variable or file and the item or line at fault, never its text.
        """
        variable = ENVIRONMENT_VARIABLES["http_tokens"]
        items = [(item.get_secret_value(), f"{variable} item {n}") for n, item in enumerate(self.http_tokens, 1)]
        if self.token_file is not None:
            source = f"{ENVIRONMENT_VARIABLES['token_file']} (or --token-file) {self.token_file}"
            try:
                lines = self.token_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as error:
                raise SettingsError(f"{source} cannot be read ({type(error).__name__}).") from None
            items += [(line, f"{source} line {n}") for n, line in enumerate(lines, 1) if line.strip()[:1] not in ("", "#")]
        try:
            return _unique([(where, _named_token(text, where)) for text, where in items])
        except ValueError as error:
            raise SettingsError(f"{error}.") from None

    def oauth(self) -> OAuthResourceServer | None:
        """The OAuth resource-server configuration, or None; `SettingsError` unless it is complete."""
        issuer, audience, jwks_url = self.oauth_issuer, self.oauth_audience, self.oauth_jwks_url
        if issuer is None and audience is None and jwks_url is None and self.oauth_resource_url is None:
            return None
        if issuer is None or audience is None or jwks_url is None:
            every = ", ".join(ENVIRONMENT_VARIABLES[name] for name in _OAUTH_FIELDS[:3])
            raise SettingsError(
                f"OAuth needs {every} together (or --oauth-issuer, --oauth-audience and --oauth-jwks-url): "
                "set the missing ones, or unset them all to serve without OAuth."
            )
        resource = self.oauth_resource_url or audience
        if secure_url_problem(resource):
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['oauth_audience']} is not an https URL, so it cannot be advertised as this "
                f"server's address: set {ENVIRONMENT_VARIABLES['oauth_resource_url']} to the public URL of /mcp."
            )
        return OAuthResourceServer(issuer, audience, jwks_url, resource)


@dataclass(frozen=True)
class OAuthResourceServer:
    """Whose JWT access tokens the HTTP server accepts, and the address it advertises for them."""

    issuer: str
    audience: str
    jwks_url: str
    resource_url: str


def _named_token(text: str, where: str) -> NamedToken:
    """One `name:token` (or bare token) item; errors name `where`, never the text (it may be a secret)."""
    text = text.strip()
    name, colon, token = text.partition(":")
    if not colon:
        name, token = "", text
    if colon and (problem := name_problem(name)):
        raise ValueError(f"{where}: {problem}; write {NAMED_TOKEN_FORM}")
    if len(token) < MIN_SECRET_LENGTH or not _VISIBLE_ASCII.fullmatch(token):
        raise ValueError(
            f"{where}: the token must be at least {MIN_SECRET_LENGTH} visible ASCII characters "
            f"(e.g. `openssl rand -hex 32`); write {NAMED_TOKEN_FORM}"
        )
    return NamedToken(name, token) if colon else NamedToken.unnamed(token)


def _unique(entries: list[tuple[str, NamedToken]]) -> tuple[NamedToken, ...]:
    """The tokens with exact repeats dropped; a name or a token used twice otherwise is refused
    (one token authenticates one principal). Errors name the two places, never a token."""
    by_name: dict[str, tuple[str, NamedToken]] = {}
    by_token: dict[str, tuple[str, NamedToken]] = {}
    for where, token in entries:
        for seen in (by_name.get(token.name), by_token.get(token.token)):
            if seen is not None and seen[1] != token:
                raise ValueError(f"{where} and {seen[0]} share a token name or a token: give each token its own name")
        by_name.setdefault(token.name, (where, token))
        by_token.setdefault(token.token, (where, token))
    return tuple(token for _, token in by_name.values())


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
