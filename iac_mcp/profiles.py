"""Profiles: the orgs one server may act on, each with a name, its credentials and its bounds.

Genesys admins run several orgs (dev, test, prod; often one per region). The operator names
them in a TOML file; nothing else is reachable, whatever an agent asks:

    default = "dev"
    [profiles.dev]
    region = "eu-west-1"                 # or api_base = "https://api.mypurecloud.ie"
    client_id_env = "DEV_CLIENT_ID"      # names of environment variables, never the secrets
    client_secret_env = "DEV_CLIENT_SECRET"
    mode = "apply"
    label = "Development (Dublin)"
    [profiles.prod]
    gc_profile = "prod"                  # from the gc CLI's ~/.gc/config.toml, read-only
    mode = "dry-run-only"

Without a file, the `GENESYSCLOUD_*` settings are one profile named `default`, as before.
The embedded sandbox serves `--sandbox-orgs dev,test,prod` as three profiles of one host.
Errors name the file, the profile and the key, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.settings import ENVIRONMENT_VARIABLES, Approval, Mode, Settings

DEFAULT_PROFILE = "default"
PROFILES_FILE = Path("iac-mcp") / "profiles.toml"
GC_CONFIG = Path.home() / ".gc" / "config.toml"
GC_DEFAULT_SECTION = "DEFAULT"

PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
"""Lower-case, short, shell- and header-safe: it travels as the `org` argument and header."""

_KEYS = frozenset(
    {
        "label",
        "mode",
        "region",
        "api_base",
        "client_id_env",
        "client_secret_env",
        "access_token_env",
        "gc_profile",
        "approval",
        "approval_client_id",
        "approval_webhook",
    }
)
_STRICTNESS = (Mode.READ_ONLY, Mode.DRY_RUN_ONLY, Mode.APPLY)
E = TypeVar("E", bound=Enum)


@dataclass(frozen=True)
class Profile:
    """One org the server may act on.

    `genesys` is how to reach Genesys Cloud; for an org of the embedded sandbox it is None
    and `sandbox_org` names the sandbox's org instead. `mode` bounds what the tools do there.
    """

    name: str
    label: str
    mode: Mode
    genesys: GenesysConfig | None = None
    sandbox_org: str | None = None
    approval: Approval = Approval.CONSENT
    """What a real run needs besides its plan: consent, or approvals by signed-in people."""
    approval_client_id: str | None = None
    """The OAuth client (Authorization Code with PKCE) approvers sign in with."""
    approval_webhook: str | None = None
    """Where approval requests are announced (HMAC-signed JSON), e.g. a chat-ops bot."""


@dataclass(frozen=True)
class Profiles:
    """The profiles in the order the operator listed them, and the one used when none is named."""

    all: tuple[Profile, ...]
    default: str

    def __post_init__(self) -> None:
        if self.default not in self.names:
            raise ConfigurationError(f"the default profile {self.default!r} is not one of: {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(profile.name for profile in self.all)

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.all)


def bounded(server: Mode, profile: Mode | None) -> Mode:
    """The stricter of the server's mode and a profile's own."""
    if profile is None:
        return server
    return min(server, profile, key=_STRICTNESS.index)


def load_profiles(settings: Settings, env: Mapping[str, str] = os.environ) -> Profiles:
    """The profiles these settings give: sandbox orgs, the profiles file, or `default`."""
    if settings.sandbox:
        names = settings.sandbox_orgs or (DEFAULT_PROFILE,)
        bad = [name for name in names if not PROFILE_NAME.fullmatch(name)]
        if bad:
            raise ConfigurationError(
                f"{ENVIRONMENT_VARIABLES['sandbox_orgs']} (or --sandbox-orgs): org names must be 1-32 lower-case "
                "letters, digits, '-' or '_'."
            )
        return Profiles(
            tuple(
                Profile(
                    name,
                    f"Sandbox org {name}",
                    settings.mode,
                    sandbox_org=name if settings.sandbox_orgs else None,
                    approval=settings.approval,
                )
                for name in dict.fromkeys(names)
            ),
            names[0],
        )
    path = profiles_path(settings, env)
    if path is None:
        default = Profile(DEFAULT_PROFILE, "Genesys Cloud", settings.mode, genesys=settings.genesys(), approval=settings.approval)
        return Profiles((default,), DEFAULT_PROFILE)
    return read_profiles(path, settings, env)


def profiles_path(settings: Settings, env: Mapping[str, str] = os.environ) -> Path | None:
    """The profiles file: the configured one (which must exist), else the XDG location if present."""
    if settings.profiles_file is not None:
        if not settings.profiles_file.is_file():
            raise ConfigurationError(f"{ENVIRONMENT_VARIABLES['profiles_file']}: no file at {settings.profiles_file}")
        return settings.profiles_file
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidate = config_home / PROFILES_FILE
    return candidate if candidate.is_file() else None


def read_profiles(path: Path, settings: Settings, env: Mapping[str, str] = os.environ) -> Profiles:
    document = _toml(path, "profiles file")
    tables = document.get("profiles")
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(f"{path}: no [profiles.NAME] tables")
    unknown_top = sorted(set(document) - {"default", "profiles"})
    if unknown_top:
        raise ConfigurationError(f"{path}: unknown top-level keys {', '.join(unknown_top)} (expected default, profiles)")
    gc_config: dict[str, Any] | None = None
    profiles: list[Profile] = []
    for name, table in tables.items():
        where = f"{path}, profile {name!r}"
        if not PROFILE_NAME.fullmatch(str(name)):
            raise ConfigurationError(f"{where}: names are 1-32 lower-case letters, digits, '-' or '_'")
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where}: must be a table")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigurationError(f"{where}: unknown keys {', '.join(unknown)} (expected {', '.join(sorted(_KEYS))})")
        if "gc_profile" in table and gc_config is None:
            gc_config = _toml(settings.gc_config or GC_CONFIG, "gc CLI configuration")
        genesys = _genesys(table, env, gc_config, where)
        mode = _choice(Mode, table, "mode", where)
        approval = _choice(Approval, table, "approval", where) or settings.approval
        profiles.append(
            Profile(
                str(name),
                str(table.get("label") or name),
                bounded(settings.mode, mode),
                genesys=genesys,
                approval=approval,
                approval_client_id=_text(table.get("approval_client_id")),
                approval_webhook=_text(table.get("approval_webhook")),
            )
        )
    default = document.get("default", profiles[0].name)
    return Profiles(tuple(profiles), str(default))


def _genesys(table: dict[str, Any], env: Mapping[str, str], gc_config: dict[str, Any] | None, where: str) -> GenesysConfig:
    """The profile's connection: from the gc CLI's table, or from the variables it names."""
    if "gc_profile" in table:
        assert gc_config is not None
        section = gc_config.get(str(table["gc_profile"]))
        if not isinstance(section, dict):
            raise ConfigurationError(f"{where}: the gc CLI configuration has no profile {table['gc_profile']!r}")
        values = {
            "region": section.get("environment"),
            "client_id": section.get("client_credentials"),
            "client_secret": section.get("client_secret"),
            "access_token": section.get("access_token"),
        }
    else:
        named = ("client_id_env", "client_secret_env", "access_token_env")
        missing = [key for key in named if key in table and not env.get(str(table[key]))]
        if missing:
            names = ", ".join(f"{key} ({table[key]})" for key in missing)
            raise ConfigurationError(f"{where}: the environment variables named by {names} are not set")
        values = {
            "region": table.get("region"),
            "client_id": env.get(str(table.get("client_id_env", ""))),
            "client_secret": env.get(str(table.get("client_secret_env", ""))),
            "access_token": env.get(str(table.get("access_token_env", ""))),
        }
    try:
        return GenesysConfig.from_values(
            region=_text(values["region"]),
            api_region=_text(table.get("api_base")),
            client_id=_text(values["client_id"]),
            client_secret=_text(values["client_secret"]),
            access_token=_text(values["access_token"]),
        )
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None


def _choice(kind: type[E], table: dict[str, Any], key: str, where: str) -> E | None:
    if key not in table:
        return None
    try:
        return kind(table[key])
    except ValueError:
        raise ConfigurationError(f"{where}: {key} must be one of {', '.join(str(v.value) for v in kind)}") from None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _toml(path: Path, what: str) -> dict[str, Any]:
    import tomllib  # only with a profiles file or the gc CLI's config: most servers read neither

    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigurationError(f"The {what} {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        # tomllib's message quotes no values beyond a position; OSError names the path only.
        raise ConfigurationError(f"The {what} {path} cannot be read: {type(error).__name__}") from None
