"""Configuration of the embedded sandbox.

One dataclass, so tests, benchmarks and the CLI build a sandbox the same way. The
client pair and user password defaults are documented and harmless: the sandbox only
ever listens on 127.0.0.1 and holds no real data.

Several orgs share one sandbox host, told apart by their OAuth client, as orgs of one
Genesys region share `api.<domain>`. Without `orgs` there is one org, `sandbox`, whose
client is `client_id`/`client_secret`, exactly as before orgs existed.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from iac_mcp.sandbox.vocabulary import ADD_JOB, VIEW_ACCELERATORS, VIEW_INTEGRATIONS, VIEW_JOBS

DEFAULT_ORG_NAME = "sandbox"
DEFAULT_CLIENT_ID = "iac-mcp-sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
SIGNIN_SUFFIX = "-signin"
"""An org's public sign-in client is `<client id>-signin` unless given."""
GENERATED_CLIENT_PREFIX = "iac-mcp-sandbox-"

HistoryShape = Literal["listing", "job", "array"]
HISTORY_SHAPES: tuple[HistoryShape, ...] = ("listing", "job", "array")
ValidateAt = Literal["post", "plan"]
VALIDATE_AT: tuple[ValidateAt, ...] = ("post", "plan")

_ORG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}")
_PERMISSION = re.compile(r"[A-Za-z0-9*_-]+:[A-Za-z0-9*_-]+:[A-Za-z0-9*_-]+")

APPROVER_PERMISSIONS = frozenset({ADD_JOB, VIEW_JOBS, VIEW_ACCELERATORS, VIEW_INTEGRATIONS})
VIEWER_PERMISSIONS = frozenset({VIEW_JOBS, VIEW_ACCELERATORS, VIEW_INTEGRATIONS})


@dataclass(frozen=True)
class SandboxOrg:
    """One simulated Genesys org: its name and its OAuth clients.

    `client_id`/`client_secret` is the confidential client (client credentials, and the
    authorization-code grant with Basic auth); `signin_client_id` a public client with no
    secret, for the authorization-code grant with PKCE only. Both may open `/oauth/authorize`.
    """

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    signin_client_id: str = ""
    """The public sign-in client; empty means `<client_id>-signin`."""

    def __post_init__(self) -> None:
        if not _ORG_NAME.fullmatch(self.name):
            raise ValueError(
                f"org name {self.name[:64]!r} must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        for what, value in (("client id", self.client_id), ("sign-in client id", self.signin_client_id)):
            if ":" in value or any(c.isspace() for c in value):
                raise ValueError(f"the {what} of org {self.name!r} must not contain ':' or spaces (Basic auth splits on ':')")
        if not self.client_id or not self.client_secret:
            raise ValueError(f"org {self.name!r} needs a client id and a client secret")
        if not self.signin_client_id:
            object.__setattr__(self, "signin_client_id", self.client_id + SIGNIN_SUFFIX)

    @property
    def client_ids(self) -> tuple[str, str]:
        """Every client id of the org: the confidential one, then the public sign-in one."""
        return (self.client_id, self.signin_client_id)


@dataclass(frozen=True)
class SandboxUser:
    """A person who can sign in through `/oauth/authorize`, in one org, with exact permissions."""

    username: str
    password: str = field(repr=False)
    permissions: frozenset[str] = frozenset()
    """What the user's role grants (exact `domain:entity:action` strings, no wildcard matching)."""
    org: str = ""
    """The org's name; empty means the first org."""
    name: str = ""
    """The display name; empty means the username, capitalised."""

    def __post_init__(self) -> None:
        if not _USERNAME.fullmatch(self.username):
            raise ValueError(
                f"username {self.username[:100]!r} must be letters, digits and . _ @ + -, starting with a letter or digit"
            )
        if not self.password:
            raise ValueError(f"user {self.username!r} needs a password")
        bad = sorted(p for p in self.permissions if not _PERMISSION.fullmatch(p))
        if bad:
            raise ValueError(f"user {self.username!r}: permissions must be domain:entity:action, not {', '.join(bad)}")
        if not self.name:
            object.__setattr__(self, "name", self.username.capitalize())


DEFAULT_USERS = (
    SandboxUser("alice", "alice-sandbox", APPROVER_PERMISSIONS, name="Alice Approver"),
    SandboxUser("bob", "bob-sandbox", APPROVER_PERMISSIONS, name="Bob Approver"),
    SandboxUser("eve", "eve-sandbox", VIEWER_PERMISSIONS, name="Eve Viewer"),
)
"""Who can sign in when no users are given, in every org: `alice`/`alice-sandbox` and
`bob`/`bob-sandbox` hold `infrastructureascode:job:add` and the view permissions
(accelerators, jobs, integrations); `eve`/`eve-sandbox` holds only the view permissions."""


def named_orgs(names: Iterable[str]) -> list[SandboxOrg]:
    """Orgs with generated OAuth clients, for `iac-mcp serve --sandbox --sandbox-orgs dev,test,prod`.

    `SandboxSettings(orgs=named_orgs(["dev", "test", "prod"]))` serves three orgs from one
    sandbox. Each org's client id is `iac-mcp-sandbox-<name>` (readable in logs and consent
    questions), its secret a fresh random string on every call, its public sign-in client
    `iac-mcp-sandbox-<name>-signin`. Read them back from the returned orgs (or
    `settings.org(name)`) to configure a client per org. Each org gets its own jobs and its
    own integration ids (derived from the name, so a demo repeats); the default users
    (`DEFAULT_USERS`) exist in every org. Raises ValueError naming a bad or repeated name.
    """
    orgs: list[SandboxOrg] = []
    for raw in names:
        name = raw.strip()
        if any(o.name == name for o in orgs):
            raise ValueError(f"org {name!r} is named twice")
        orgs.append(SandboxOrg(name, f"{GENERATED_CLIENT_PREFIX}{name}", secrets.token_urlsafe(24)))
    if not orgs:
        raise ValueError("name at least one org")
    return orgs


@dataclass
class SandboxSettings:
    """How the sandbox behaves. Every field has a default that suits tests and demos."""

    client_id: str = DEFAULT_CLIENT_ID
    """The client of the one org when `orgs` is empty; with `orgs`, the first org's (set here)."""
    client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    orgs: list[SandboxOrg] = field(default_factory=list)
    """The orgs served; empty means one org named `sandbox` with `client_id`/`client_secret`."""
    users: list[SandboxUser] = field(default_factory=list)
    """Who can sign in; empty means `DEFAULT_USERS` in every org."""
    token_lifetime: float = 86400
    """Seconds a token stays valid (Genesys' default is 24 h)."""
    code_lifetime: float = 60
    """Seconds an authorization code can be exchanged, on `clock`."""
    job_duration: float = 3.0
    """Simulated seconds from Created to a terminal status; 0 = terminal at the first read."""
    catalog_dirs: list[Path] = field(default_factory=list)
    """Directories whose `*.json` specs are added to the built-in catalogue."""
    builtin_catalog: bool = True
    missing_permissions: frozenset[str] = frozenset()
    """Permissions the OAuth client lacks, on top of `client_permissions`."""
    client_permissions: frozenset[str] | None = None
    """Every permission the OAuth client's role grants; None grants all. Routes need theirs
    (403 otherwise); a job needs every permission its spec lists (its Terraform run fails otherwise).
    The same for every org's confidential client; a signed-in user holds exactly their own."""
    rate_limit_per_minute: int = 300
    """Requests per token in any sliding 60 s window (Genesys: 300 per client-credentials token)."""
    seed: int = 0
    """Seeds job ids and probabilistic faults, so a run replays exactly."""
    clock: Callable[[], float] = time.monotonic
    """Seconds, monotonic. Inject a fake to drive token expiry, rate limits and job progress."""
    ansi_colour: bool = False
    """Colour job results like a terminal Terraform run, to exercise ANSI-stripping parsers."""
    history_shape: HistoryShape = "listing"
    """How `GET /jobs` answers: `{"entities": [...]}`, the latest job alone (as every SDK
    declares), or a bare array. Genesys' real shape is undocumented."""
    validate_at: ValidateAt = "post"
    """`post`: bad parameters get a 400; `plan`: the POST is accepted and the job fails in plan."""
    served_orgs: tuple[SandboxOrg, ...] = field(init=False, repr=False)
    """The orgs as served (`orgs`, or the one default org)."""
    served_users: tuple[SandboxUser, ...] = field(init=False, repr=False)
    """The users as served, each with its org's name filled in."""

    def __post_init__(self) -> None:
        if self.history_shape not in HISTORY_SHAPES:
            raise ValueError(f"history_shape must be one of {', '.join(HISTORY_SHAPES)}")
        if self.validate_at not in VALIDATE_AT:
            raise ValueError(f"validate_at must be one of {', '.join(VALIDATE_AT)}")
        self.served_orgs = tuple(self.orgs) or (SandboxOrg(DEFAULT_ORG_NAME, self.client_id, self.client_secret),)
        first = self.served_orgs[0]
        pair = (self.client_id, self.client_secret)
        if self.orgs and pair not in ((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET), (first.client_id, first.client_secret)):
            raise ValueError(
                "client_id/client_secret are the client of a sandbox without orgs; with orgs, give each org's "
                "client in its SandboxOrg and leave them unset"
            )
        self.client_id, self.client_secret = first.client_id, first.client_secret
        _unique("org name", [o.name for o in self.served_orgs])
        _unique("client id", [client for o in self.served_orgs for client in o.client_ids])
        self.served_users = self._resolve_users(first.name)

    def _resolve_users(self, first_org: str) -> tuple[SandboxUser, ...]:
        if not self.users:
            return tuple(replace(u, org=o.name) for o in self.served_orgs for u in DEFAULT_USERS)
        names = {o.name for o in self.served_orgs}
        resolved = tuple(u if u.org else replace(u, org=first_org) for u in self.users)
        for user in resolved:
            if user.org not in names:
                raise ValueError(f"user {user.username!r} belongs to org {user.org[:64]!r}, which is not one of {sorted(names)}")
        _unique("user", [f"{u.org}/{u.username}" for u in resolved])
        return resolved

    def org(self, name: str) -> SandboxOrg:
        """The org called `name`; KeyError naming the orgs that exist."""
        found = next((o for o in self.served_orgs if o.name == name), None)
        if found is None:
            raise KeyError(f"no sandbox org {name!r}; the orgs are {', '.join(o.name for o in self.served_orgs)}")
        return found

    def holds(self, permission: str) -> bool:
        """Whether the OAuth client has `permission`."""
        granted = self.client_permissions is None or permission in self.client_permissions
        return granted and permission not in self.missing_permissions


def _unique(what: str, values: list[str]) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"each {what} must be unique; repeated: {', '.join(repeated)}")
