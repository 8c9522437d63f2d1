"""GenesysConfig: regions, URLs, credentials, and that no secret ever shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iac_mcp.genesys import REGIONS, ConfigurationError, GenesysConfig

SECRET = "s3cr3t-Value-9f"
TOKEN = "tok-Value-7e"
PAIR = {"GENESYSCLOUD_OAUTHCLIENT_ID": "my-client", "GENESYSCLOUD_OAUTHCLIENT_SECRET": SECRET}

REGIONS_LINE = re.compile(r"^- Regions \(id → domain.*?\):(?P<table>.*)$", re.MULTILINE)


def test_region_table_matches_the_notes(shared_dir: Path) -> None:
    """All 18 regions, checked against what we know of Genesys (the notes), not a copy of the table."""
    notes = (shared_dir / "notes" / "genesys-iac-api.md").read_text(encoding="utf-8")
    match = REGIONS_LINE.search(notes)
    assert match, "the notes' region line moved"
    pairs = [entry.strip().rstrip(".").split() for entry in match.group("table").split("·")]
    assert dict(REGIONS) == {region: domain for region, domain in pairs}
    assert len(REGIONS) == 18


@pytest.mark.parametrize(("region", "domain"), sorted(REGIONS.items()))
def test_every_region_id(region: str, domain: str) -> None:
    config = GenesysConfig.from_env({"GENESYSCLOUD_REGION": region, **PAIR})
    assert config.api_base == f"https://api.{domain}"
    assert config.login_base == f"https://login.{domain}"
    assert (config.client_id, config.client_secret, config.access_token) == ("my-client", SECRET, None)


@pytest.mark.parametrize("value", ["mypurecloud.ie", "usw2.pure.cloud", "api.mypurecloud.de", " EU-WEST-1 "])
def test_region_as_domain_or_padded_id(value: str) -> None:
    config = GenesysConfig.from_env({"GENESYSCLOUD_REGION": value, **PAIR})
    domain = value.strip().lower().removeprefix("api.")
    expected = REGIONS.get(domain, domain)
    assert config.api_base == f"https://api.{expected}"
    assert config.login_base == f"https://login.{expected}"


@pytest.mark.parametrize(
    ("api_region", "api_base", "login_base"),
    [
        ("https://api.usw2.pure.cloud", "https://api.usw2.pure.cloud", "https://login.usw2.pure.cloud"),
        ("https://api.usw2.pure.cloud/", "https://api.usw2.pure.cloud", "https://login.usw2.pure.cloud"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9", "http://localhost:9"),
        ("https://api.example.test:8443", "https://api.example.test:8443", "https://login.example.test:8443"),
        ("https://myapi.example.test", "https://myapi.example.test", "https://myapi.example.test"),
    ],
)
def test_api_region_overrides_region(api_region: str, api_base: str, login_base: str) -> None:
    config = GenesysConfig.from_env(
        {"GENESYSCLOUD_API_REGION": api_region, "GENESYSCLOUD_REGION": "eu-west-1", **PAIR}
    )
    assert (config.api_base, config.login_base) == (api_base, login_base)


def test_access_token_alone() -> None:
    config = GenesysConfig.from_env({"GENESYSCLOUD_REGION": "us-east-1", "GENESYSCLOUD_ACCESS_TOKEN": TOKEN})
    assert config.access_token == TOKEN
    assert config.client_id is None and config.client_secret is None


def test_empty_values_count_as_unset() -> None:
    env = {"GENESYSCLOUD_REGION": "us-east-1", "GENESYSCLOUD_ACCESS_TOKEN": "", **PAIR}
    assert GenesysConfig.from_env(env).access_token is None


def test_for_sandbox() -> None:
    config = GenesysConfig.for_sandbox("http://127.0.0.1:5000/", "id", SECRET)
    assert (config.api_base, config.login_base) == ("http://127.0.0.1:5000", "http://127.0.0.1:5000")
    assert config.client_secret == SECRET


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({**PAIR}, ["GENESYSCLOUD_REGION", "GENESYSCLOUD_API_REGION", "No Genesys Cloud region"]),
        ({"GENESYSCLOUD_REGION": "mars-north-1", **PAIR}, ["Unknown Genesys Cloud region 'mars-north-1'", "GENESYSCLOUD_REGION", "us-east-1"]),
        ({"GENESYSCLOUD_REGION": "https://api.mypurecloud.com", **PAIR}, ["GENESYSCLOUD_REGION", "GENESYSCLOUD_API_REGION", "not a URL"]),
        ({"GENESYSCLOUD_REGION": "us-east-1"}, ["No Genesys Cloud credentials", "GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYSCLOUD_OAUTHCLIENT_SECRET", "GENESYSCLOUD_ACCESS_TOKEN"]),
        ({"GENESYSCLOUD_REGION": "us-east-1", "GENESYSCLOUD_OAUTHCLIENT_ID": "x"}, ["GENESYSCLOUD_OAUTHCLIENT_SECRET is not"]),
        ({"GENESYSCLOUD_REGION": "us-east-1", "GENESYSCLOUD_OAUTHCLIENT_SECRET": SECRET}, ["GENESYSCLOUD_OAUTHCLIENT_ID is not"]),
        ({"GENESYSCLOUD_REGION": "us-east-1", "GENESYSCLOUD_ACCESS_TOKEN": TOKEN, **PAIR}, ["Both GENESYSCLOUD_ACCESS_TOKEN", "GENESYSCLOUD_OAUTHCLIENT_ID"]),
        ({"GENESYSCLOUD_API_REGION": "ftp://api.mypurecloud.com", **PAIR}, ["GENESYSCLOUD_API_REGION", "scheme is 'ftp'"]),
        ({"GENESYSCLOUD_API_REGION": "api.mypurecloud.com", **PAIR}, ["GENESYSCLOUD_API_REGION", "no http:// or https:// scheme"]),
        ({"GENESYSCLOUD_API_REGION": "http://127.0.0.1:99999", **PAIR}, ["GENESYSCLOUD_API_REGION", "malformed"]),
        ({"GENESYSCLOUD_API_REGION": "https://", **PAIR}, ["GENESYSCLOUD_API_REGION", "no host"]),
        ({"GENESYSCLOUD_API_REGION": "https://api.mypurecloud.com/api/v2", **PAIR}, ["GENESYSCLOUD_API_REGION", "path"]),
        ({"GENESYSCLOUD_API_REGION": "https://api.mypurecloud.com/?x=1", **PAIR}, ["GENESYSCLOUD_API_REGION", "query"]),
        ({"GENESYSCLOUD_API_REGION": f"https://u:{SECRET}@api.mypurecloud.com", **PAIR}, ["GENESYSCLOUD_API_REGION", "credentials"]),
    ],
)
def test_configuration_errors(env: dict[str, str], expected: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        GenesysConfig.from_env(env)
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message
    assert SECRET not in message and TOKEN not in message
    assert message.count("\n") == 0


def test_sandbox_url_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="the sandbox URL"):
        GenesysConfig.for_sandbox("file:///tmp/x", "id", SECRET)


def test_secrets_never_in_repr_or_str() -> None:
    pair = GenesysConfig.from_env({"GENESYSCLOUD_REGION": "us-east-1", **PAIR})
    token = GenesysConfig.from_env({"GENESYSCLOUD_REGION": "us-east-1", "GENESYSCLOUD_ACCESS_TOKEN": TOKEN})
    for config in (pair, token):
        for text in (repr(config), str(config), f"{config}"):
            assert SECRET not in text and TOKEN not in text
    assert "my-client" in repr(pair)


def test_config_is_frozen() -> None:
    config = GenesysConfig.for_sandbox("http://127.0.0.1:1", "id", SECRET)
    with pytest.raises(AttributeError):
        config.api_base = "https://evil.example"  # type: ignore[misc]
