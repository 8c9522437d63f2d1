"""Where the Genesys API lives and how to authenticate: read once, checked at start-up.

The variable names are the ones the CX as Code Terraform provider and the `gc` CLI use,
so an operator's existing environment works unchanged. Every problem is reported as one
`ConfigurationError` naming the variables involved; secret values never appear in an
error, `repr()` or `str()` of the configuration.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from iac_mcp.genesys.errors import ConfigurationError

ENV_CLIENT_ID = "GENESYSCLOUD_OAUTHCLIENT_ID"
ENV_CLIENT_SECRET = "GENESYSCLOUD_OAUTHCLIENT_SECRET"
ENV_REGION = "GENESYSCLOUD_REGION"
ENV_API_REGION = "GENESYSCLOUD_API_REGION"
ENV_ACCESS_TOKEN = "GENESYSCLOUD_ACCESS_TOKEN"

REGIONS: Mapping[str, str] = {
    "us-east-1": "mypurecloud.com",
    "us-east-2": "use2.us-gov-pure.cloud",
    "us-west-2": "usw2.pure.cloud",
    "ca-central-1": "cac1.pure.cloud",
    "sa-east-1": "sae1.pure.cloud",
    "mx-central-1": "mxc1.pure.cloud",
    "eu-west-1": "mypurecloud.ie",
    "eu-west-2": "euw2.pure.cloud",
    "eu-central-1": "mypurecloud.de",
    "eu-central-2": "euc2.pure.cloud",
    "eusc-de-east-1": "edee1.eusc-pure.cloud",
    "me-central-1": "mec1.pure.cloud",
    "ap-south-1": "aps1.pure.cloud",
    "ap-southeast-1": "apse1.pure.cloud",
    "ap-southeast-2": "mypurecloud.com.au",
    "ap-northeast-1": "mypurecloud.jp",
    "ap-northeast-2": "apne2.pure.cloud",
    "ap-northeast-3": "apne3.pure.cloud",
}
"""Genesys Cloud region id -> domain. API at `https://api.<domain>`, login at `https://login.<domain>`."""

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class GenesysConfig:
    """Validated connection settings. Build it with `from_env` or `for_sandbox`."""

    api_base: str
    login_base: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problem = _credentials_problem(self.client_id, self.client_secret, self.access_token)
        if problem:
            raise ConfigurationError(problem)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GenesysConfig:
        """Read the GENESYSCLOUD_* variables; empty values count as unset."""

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        return cls.from_values(
            region=get(ENV_REGION),
            api_region=get(ENV_API_REGION),
            client_id=get(ENV_CLIENT_ID),
            client_secret=get(ENV_CLIENT_SECRET),
            access_token=get(ENV_ACCESS_TOKEN),
        )

    @classmethod
    def from_values(
        cls,
        *,
        region: str | None,
        api_region: str | None,
        client_id: str | None,
        client_secret: str | None,
        access_token: str | None,
    ) -> GenesysConfig:
        """Check the values of the GENESYSCLOUD_* variables together; every problem in one error."""
        problems: list[str] = []
        api_base = ""
        try:
            if api_region:
                api_base = validate_base_url(api_region, variable=ENV_API_REGION)
            elif region:
                api_base = f"https://api.{region_domain(region)}"
            else:
                problems.append(
                    f"No Genesys Cloud region: set {ENV_REGION} (a region id such as us-east-1, or a domain "
                    f"such as mypurecloud.ie) or {ENV_API_REGION} (a full API URL such as https://api.usw2.pure.cloud)."
                )
        except ConfigurationError as error:
            problems.append(str(error))
        credentials = _credentials_problem(client_id, client_secret, access_token)
        if credentials:
            problems.append(credentials)
        if problems:
            raise ConfigurationError(" ".join(problems))
        return cls(
            api_base=api_base,
            login_base=login_base_for(api_base),
            client_id=client_id,
            client_secret=client_secret,
            access_token=access_token,
        )

    @classmethod
    def for_sandbox(cls, api_base: str, client_id: str, client_secret: str) -> GenesysConfig:
        """A local sandbox: it serves the API and `/oauth/token` on one base URL."""
        base = validate_base_url(api_base, variable="the sandbox URL")
        return cls(base, login_base_for(base), client_id, client_secret)


def region_domain(region: str) -> str:
    """The domain of a region id (`eu-west-1`) or of a domain given as is (`mypurecloud.ie`)."""
    key = region.strip().lower()
    if key in REGIONS:
        return REGIONS[key]
    if "://" in key:
        raise ConfigurationError(
            f"{ENV_REGION} takes a region id or a domain, not a URL; put a full API URL in {ENV_API_REGION}."
        )
    domain = key.removeprefix("api.")
    if "." in domain and _DOMAIN.match(domain):
        return domain
    raise ConfigurationError(
        f"Unknown Genesys Cloud region {_named(region.strip())} in {ENV_REGION}: use one of "
        f"{', '.join(REGIONS)}, or a domain such as mypurecloud.ie."
    )


_LONGEST_REGION = max(map(len, REGIONS))


def _named(value: str) -> str:
    """A value quoted in an error only when it is short enough to be a region id, not a pasted secret."""
    return repr(value) if len(value) <= _LONGEST_REGION and value.isascii() else f"(a value of {len(value)} characters)"


def validate_base_url(url: str, *, variable: str) -> str:
    """An http(s) origin without credentials, path, query or fragment; no trailing slash."""
    problem = _base_url_problem(url)
    if problem:
        raise ConfigurationError(f"{variable} must be an http(s) URL such as https://api.usw2.pure.cloud: {problem}.")
    return url.strip().rstrip("/")


def _base_url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "it is malformed"
    if parts.scheme not in ("http", "https"):
        return f"the scheme is {parts.scheme!r}" if parts.scheme else "it has no http:// or https:// scheme"
    if parts.username is not None or parts.password is not None:
        return "it must not hold credentials"
    if not parts.hostname:
        return "it has no host"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "plain http:// is only for a local sandbox on loopback: the client secret would travel in clear"
    if parts.path not in ("", "/"):
        return "it must not have a path (the client adds /api/v2/...)"
    if parts.query or parts.fragment:
        return "it must not have a query or fragment"
    return None


def _is_loopback(host: str) -> bool:
    """Loopback, or a `.invalid` name (RFC 6761: never resolves, so only an in-process transport reaches it)."""
    if host == "localhost" or host.endswith(".invalid"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_base_for(api_base: str) -> str:
    """`https://api.X` logs in at `https://login.X`; a base without an `api.` label (a local
    sandbox such as http://127.0.0.1:8080) serves `/oauth/token` itself."""
    parts = urlsplit(api_base)
    if not parts.netloc.lower().startswith("api."):
        return api_base
    netloc = "login." + parts.netloc[len("api.") :]
    return parts._replace(netloc=netloc).geturl()


def _credentials_problem(client_id: str | None, client_secret: str | None, access_token: str | None) -> str | None:
    """What is wrong with the credentials, naming the variables; None when they are usable."""
    has_pair = bool(client_id) or bool(client_secret)
    if access_token and has_pair:
        return f"Both {ENV_ACCESS_TOKEN} and an OAuth client ({ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}) are set: use one or the other."
    if access_token:
        return None
    if not client_id and not client_secret:
        return (
            f"No Genesys Cloud credentials: set {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} "
            f"(an OAuth client-credentials grant), or {ENV_ACCESS_TOKEN}."
        )
    if not client_id:
        return f"{ENV_CLIENT_SECRET} is set but {ENV_CLIENT_ID} is not: set both."
    if not client_secret:
        return f"{ENV_CLIENT_ID} is set but {ENV_CLIENT_SECRET} is not: set both."
    return None
