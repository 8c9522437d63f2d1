"""The profiles file: orgs named by the operator, credentials by variable name or from the gc CLI's
configuration, bounds per org; mistakes exit 2 naming file, profile and key, never a value."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from http_support import cli
from servers import CLEAN_ENV

from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.profiles import DEFAULT_PROFILE, bounded, load_profiles
from iac_mcp.settings import Approval, Mode, Settings

SECRET = "dev-secret-value-never-echoed-4711"
GC_SECRET = "gc-secret-value-never-echoed-0815"

THREE_ORGS = """\
default = "dev"

[profiles.dev]
region = "eu-west-1"
client_id_env = "DEV_CLIENT_ID"
client_secret_env = "DEV_CLIENT_SECRET"
mode = "apply"
label = "Development (Dublin)"

[profiles.test]
api_base = "https://api.usw2.pure.cloud"
client_id_env = "TEST_CLIENT_ID"
client_secret_env = "TEST_CLIENT_SECRET"
label = "Test (Oregon)"

[profiles.prod]
gc_profile = "prod"
mode = "dry-run-only"
approval = "four-eyes"
"""

GC_CONFIG = f"""\
[DEFAULT]
environment = "mypurecloud.com"
client_credentials = "default-client"
client_secret = "default-secret-xyz"

[prod]
environment = "mypurecloud.ie"
client_credentials = "prod-client"
client_secret = "{GC_SECRET}"
"""

ENV = {
    "DEV_CLIENT_ID": "dev-client",
    "DEV_CLIENT_SECRET": SECRET,
    "TEST_CLIENT_ID": "test-client",
    "TEST_CLIENT_SECRET": "test-secret-value-9999",
}


def write(tmp_path: Path, text: str = THREE_ORGS) -> Settings:
    (tmp_path / "profiles.toml").write_text(text)
    (tmp_path / "gc.toml").write_text(GC_CONFIG)
    return Settings(profiles_file=tmp_path / "profiles.toml", gc_config=tmp_path / "gc.toml")


def test_three_orgs_from_variables_and_the_gc_cli(tmp_path: Path) -> None:
    profiles = load_profiles(write(tmp_path), ENV)
    assert profiles.names == ("dev", "test", "prod") and profiles.default == "dev"
    dev, test, prod = profiles
    assert dev.genesys is not None and dev.genesys.api_base == "https://api.mypurecloud.ie"
    assert dev.genesys.client_secret == SECRET and dev.label == "Development (Dublin)"
    assert test.genesys is not None and test.genesys.api_base == "https://api.usw2.pure.cloud" and test.mode is Mode.APPLY
    assert prod.genesys is not None and prod.genesys.client_id == "prod-client" and prod.genesys.client_secret == GC_SECRET
    assert prod.mode is Mode.DRY_RUN_ONLY and prod.approval is Approval.FOUR_EYES and prod.label == "prod"
    assert SECRET not in repr(profiles) and GC_SECRET not in repr(profiles)


def test_the_server_mode_bounds_every_profile(tmp_path: Path) -> None:
    settings = write(tmp_path).model_copy(update={"mode": Mode.READ_ONLY})
    assert {p.mode for p in load_profiles(settings, ENV)} == {Mode.READ_ONLY}
    assert bounded(Mode.APPLY, Mode.DRY_RUN_ONLY) is Mode.DRY_RUN_ONLY
    assert bounded(Mode.DRY_RUN_ONLY, None) is Mode.DRY_RUN_ONLY


def test_without_a_file_the_environment_is_the_default_profile(tmp_path: Path) -> None:
    settings = Settings(region="us-east-1", client_id="id", client_secret=SECRET)
    profiles = load_profiles(settings, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert profiles.names == (DEFAULT_PROFILE,)
    assert profiles.all[0].genesys is not None and profiles.all[0].genesys.api_base == "https://api.mypurecloud.com"


def test_the_xdg_location_is_read_when_present(tmp_path: Path) -> None:
    (tmp_path / "iac-mcp").mkdir()
    (tmp_path / "iac-mcp" / "profiles.toml").write_text(THREE_ORGS.split("[profiles.prod]")[0])
    profiles = load_profiles(Settings(), {"XDG_CONFIG_HOME": str(tmp_path), **ENV})
    assert profiles.names == ("dev", "test")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (THREE_ORGS.replace('mode = "apply"', 'mode = "yolo"'), "profile 'dev': mode must be one of read-only"),
        (THREE_ORGS.replace("label = \"Test (Oregon)\"", "secret = \"x\""), "profile 'test': unknown keys secret"),
        (THREE_ORGS.replace('default = "dev"', 'default = "staging"'), "the default profile 'staging' is not one of"),
        (THREE_ORGS.replace('gc_profile = "prod"', 'gc_profile = "nope"'), "the gc CLI configuration has no profile 'nope'"),
        (THREE_ORGS.replace("[profiles.dev]", "[profiles.Dev]"), "names are 1-32 lower-case letters"),
        ("default = 1\n", "no [profiles.NAME] tables"),
        ("[profiles.dev\n", "cannot be read: TOMLDecodeError"),
    ],
)
def test_mistakes_name_file_profile_and_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_profiles(write(tmp_path, text), ENV)
    assert expected in str(caught.value)
    assert SECRET not in str(caught.value) and GC_SECRET not in str(caught.value)


def test_a_variable_that_is_not_set_is_named_not_guessed(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_profiles(write(tmp_path), {k: v for k, v in ENV.items() if k != "DEV_CLIENT_SECRET"})
    assert "client_secret_env (DEV_CLIENT_SECRET)" in str(caught.value)


def test_check_covers_every_profile_and_exits_2_without_echoing(tmp_path: Path) -> None:
    write(tmp_path, THREE_ORGS.replace('mode = "apply"', 'mode = "yolo"'))
    env = {**CLEAN_ENV, **ENV, "IAC_MCP_PROFILES": str(tmp_path / "profiles.toml"), "IAC_MCP_GC_CONFIG": str(tmp_path / "gc.toml")}
    bad = subprocess.run(cli("check"), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "profile 'dev': mode must be one of" in bad.stderr
    assert SECRET not in bad.stdout + bad.stderr
    sandbox = subprocess.run(
        cli("check", "--sandbox", "--sandbox-orgs", "dev,test,prod"), env=CLEAN_ENV, capture_output=True, text=True, timeout=120, check=False
    )
    assert sandbox.returncode == 0, sandbox.stdout + sandbox.stderr
    for org in ("dev", "test", "prod"):
        assert f"profile: {org} (Sandbox org {org})" in sandbox.stdout
    assert sandbox.stdout.count("result: ok") == 3
