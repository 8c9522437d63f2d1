"""Several orgs on one sandbox host, told apart by OAuth client, over real HTTP.

Each org sees only its own jobs (another org's job id is a 404, as in Genesys), has its own
rate limit and its own integration ids; a plan carrying another org's integration id fails.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, NamedTuple

import httpx
import pytest
from conftest import TLS, FakeClock
from starlette.applications import Starlette
from test_sandbox_platform import assert_genesys_error

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.orgs import GUID, INTEGRATION_TYPES
from iac_mcp.sandbox.serve import main, running_sandbox
from iac_mcp.sandbox.settings import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_NAME,
    SandboxOrg,
    SandboxSettings,
    SandboxUser,
    named_orgs,
)

API = "/api/v2/infrastructureascode"
INTEGRATIONS = "/api/v2/integrations"
ORDER_STATUS = "e4b1c7a2-8d3f-4a6e-b5c9-0f1e2d3c4b5a"
"""The built-in data-action module whose `integration_id` is org-specific (for promotion demos)."""
ORG_NAMES = ("dev", "test", "prod")
SECRET = "org-secret-9f3b7c"


class Orgs(NamedTuple):
    """A running multi-org sandbox: its app, and one authenticated client per org name."""

    app: Starlette
    url: str
    clients: dict[str, httpx.Client]

    @property
    def state(self) -> Any:
        return self.app.state.sandbox


def client_token(client: httpx.Client, org: SandboxOrg) -> str:
    answer = client.post("/oauth/token", auth=(org.client_id, org.client_secret), data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@contextmanager
def running_orgs(settings: SandboxSettings) -> Iterator[Orgs]:
    app = create_app(settings)
    with ExitStack() as stack:
        url = stack.enter_context(running_sandbox(app=app))
        clients = {}
        for org in settings.served_orgs:
            client = stack.enter_context(httpx.Client(base_url=url, timeout=10, verify=TLS))
            client.headers["Authorization"] = f"Bearer {client_token(client, org)}"
            clients[org.name] = client
        yield Orgs(app, url, clients)


@pytest.fixture
def orgs() -> Iterator[Orgs]:
    with running_orgs(SandboxSettings(orgs=named_orgs(ORG_NAMES), job_duration=0)) as running:
        yield running


def submit(client: httpx.Client, accelerator: str, dry_run: bool, **values: str) -> dict[str, Any]:
    body = {"acceleratorId": accelerator, "dryRun": dry_run, "parameters": [{"name": k, "value": v} for k, v in values.items()]}
    answer = client.post(f"{API}/jobs", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def read(client: httpx.Client, job_id: str) -> dict[str, Any]:
    answer = client.get(f"{API}/jobs/{job_id}", params={"details": "true"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def integrations_of(client: httpx.Client) -> dict[str, str]:
    """Integration name -> id, as the org lists them."""
    answer = client.get(INTEGRATIONS, params={"pageSize": 100})
    assert answer.status_code == 200, answer.text
    return {i["name"]: i["id"] for i in answer.json()["entities"]}


def order_values(integration_id: str) -> dict[str, str]:
    return {"action_name": "Order Status", "action_category": "Orders", "integration_id": integration_id}


# --- Jobs per org ------------------------------------------------------------------------------


def test_each_org_sees_only_its_own_jobs(orgs: Orgs) -> None:
    dev, prod = orgs.clients["dev"], orgs.clients["prod"]
    mine = submit(dev, ORDER_STATUS, True, **order_values("placeholder"))
    theirs = submit(prod, ORDER_STATUS, True, **order_values("placeholder"))
    assert [j["id"] for j in dev.get(f"{API}/jobs", params={"maxResults": 10}).json()["entities"]] == [mine["id"]]
    assert [j["id"] for j in prod.get(f"{API}/jobs", params={"maxResults": 10}).json()["entities"]] == [theirs["id"]]
    assert orgs.clients["test"].get(f"{API}/jobs", params={"maxResults": 10}).json()["entities"] == []
    assert mine["submittedBy"]["id"] != theirs["submittedBy"]["id"]
    assert orgs.state.jobs_created == 2


def test_another_orgs_job_id_is_a_404_like_an_unknown_one(orgs: Orgs) -> None:
    job = submit(orgs.clients["dev"], ORDER_STATUS, True, **order_values("placeholder"))
    foreign = assert_genesys_error(orgs.clients["prod"].get(f"{API}/jobs/{job['id']}"), 404, "resource.not.found")
    unknown = assert_genesys_error(orgs.clients["prod"].get(f"{API}/jobs/{job['id'][:-4]}ffff"), 404, "resource.not.found")
    assert foreign["messageWithParams"] == unknown["messageWithParams"]
    assert read(orgs.clients["dev"], job["id"])["status"] == "Complete"


def test_each_org_has_its_own_rate_limit(fake_clock: FakeClock) -> None:
    settings = SandboxSettings(orgs=named_orgs(["dev", "prod"]), rate_limit_per_minute=3, clock=fake_clock)
    with running_orgs(settings) as running:
        dev, prod = running.clients["dev"], running.clients["prod"]
        assert [dev.get(f"{API}/jobs").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert prod.get(f"{API}/jobs").status_code == 200


def test_each_token_belongs_to_the_org_of_its_client(orgs: Orgs) -> None:
    settings = orgs.state.settings
    with httpx.Client(base_url=orgs.url) as anonymous:
        wrong = anonymous.post(
            "/oauth/token",
            auth=(settings.org("dev").client_id, settings.org("prod").client_secret),
            data={"grant_type": "client_credentials"},
        )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert {g.org.name for g in orgs.state.tokens.values()} == set(ORG_NAMES)


# --- Org-specific object ids -------------------------------------------------------------------


def test_integrations_have_the_same_names_and_different_ids_in_every_org(orgs: Orgs) -> None:
    listed = {name: integrations_of(client) for name, client in orgs.clients.items()}
    names = {name for _, name in INTEGRATION_TYPES}
    assert all(set(found) == names for found in listed.values())
    ids = [i for found in listed.values() for i in found.values()]
    assert len(set(ids)) == len(ids) == 3 * len(names) and all(GUID.fullmatch(i) for i in ids)
    with running_orgs(SandboxSettings(orgs=named_orgs(["prod"]))) as again:
        assert integrations_of(again.clients["prod"]) == listed["prod"], "derived from the org's name: a demo repeats"


def test_the_integration_listing_has_genesys_shape_and_pages(orgs: Orgs) -> None:
    client = orgs.clients["dev"]
    first = client.get(INTEGRATIONS, params={"pageSize": 2}).json()
    second = client.get(INTEGRATIONS, params={"pageSize": 2, "pageNumber": 2}).json()
    assert (first["pageSize"], first["pageNumber"], first["total"], first["pageCount"]) == (2, 1, 3, 2)
    assert len(first["entities"]) == 2 and len(second["entities"]) == 1 and "nextUri" in first and "nextUri" not in second
    entity = first["entities"][0]
    assert set(entity) >= {"id", "name", "integrationType", "intendedState", "reportedState", "selfUri"}
    assert set(entity["integrationType"]) >= {"id", "name"} and entity["intendedState"] == "ENABLED"
    assert entity["name"] == "AWS Lambda Data Actions", "sorted by name"
    bad = assert_genesys_error(client.get(INTEGRATIONS, params={"pageSize": 0}), 400, "bad.request")
    assert bad["details"] == [{"errorCode": "invalid.value", "fieldName": "pageSize"}]


def test_one_integration_by_id_only_in_its_own_org(orgs: Orgs) -> None:
    dev_id = integrations_of(orgs.clients["dev"])["Web Services Data Actions"]
    assert orgs.clients["dev"].get(f"{INTEGRATIONS}/{dev_id}").json()["id"] == dev_id
    assert_genesys_error(orgs.clients["prod"].get(f"{INTEGRATIONS}/{dev_id}"), 404, "resource.not.found")


def test_listing_integrations_needs_its_permission() -> None:
    settings = SandboxSettings(missing_permissions=frozenset({"integrations:integration:view"}))
    with running_orgs(settings) as running:
        answer = running.clients[DEFAULT_ORG_NAME].get(INTEGRATIONS)
    body = assert_genesys_error(answer, 403, "missing.any.permissions")
    assert body["messageParams"] == {"permissions": "[integrations:integration:view]"}


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_prod_run_with_devs_integration_id_fails_naming_the_missing_integration(orgs: Orgs, dry_run: bool) -> None:
    dev_id = integrations_of(orgs.clients["dev"])["Web Services Data Actions"]
    prod = orgs.clients["prod"]
    job = read(prod, submit(prod, ORDER_STATUS, dry_run, **order_values(dev_id))["id"])
    assert job["status"] == ("Failed" if dry_run else "RollbackComplete")
    message = job["errorInfo"]["message"]
    assert dev_id in message and "integration" in message and "integration_id" in message
    assert "API Error: 404" in job["results"] and dev_id in job["results"] and "Error:" in job["results"]
    assert ("rollbackResults" in job) is not dry_run
    in_dev = read(orgs.clients["dev"], submit(orgs.clients["dev"], ORDER_STATUS, dry_run, **order_values(dev_id))["id"])
    assert in_dev["status"] == "Complete" and "errorInfo" not in in_dev


def test_a_prod_plan_with_prods_own_integration_id_completes(orgs: Orgs) -> None:
    prod = orgs.clients["prod"]
    prod_id = integrations_of(prod)["Web Services Data Actions"].upper()
    job = read(prod, submit(prod, ORDER_STATUS, True, **order_values(prod_id))["id"])
    assert job["status"] == "Complete" and f'integration_id = "{prod_id}"' in job["results"]


def test_only_guid_shaped_integration_ids_are_references(orgs: Orgs) -> None:
    """A free-text placeholder plans as given; any GUID that is no integration of the org fails."""
    prod = orgs.clients["prod"]
    placeholder = read(prod, submit(prod, ORDER_STATUS, True, **order_values("premium-integration-id"))["id"])
    made_up = read(prod, submit(prod, ORDER_STATUS, True, **order_values("00000000-0000-4000-8000-000000000000"))["id"])
    assert placeholder["status"] == "Complete" and made_up["status"] == "Failed"


def test_the_order_status_module_is_a_data_action_module_with_a_guid_integration_id(orgs: Orgs) -> None:
    spec = orgs.clients["dev"].get(f"{API}/accelerators/{ORDER_STATUS}").json()
    properties = {name: prop for prop_map in spec["presentation"][0]["schema"]["properties"] for name, prop in prop_map.items()}
    assert set(properties) == {"action_name", "action_category", "integration_id", "secure_data_action"}
    assert spec["presentation"][0]["schema"]["required"] == ["action_name", "action_category", "integration_id"]
    assert "queue" not in spec["name"].lower(), "tests pick the first accelerator named like 'queue'"


# --- Settings ----------------------------------------------------------------------------------


def test_without_orgs_there_is_one_org_with_the_documented_client() -> None:
    settings = SandboxSettings()
    [org] = settings.served_orgs
    assert (org.name, org.client_id, org.client_secret) == (DEFAULT_ORG_NAME, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    assert org.signin_client_id == f"{DEFAULT_CLIENT_ID}-signin"
    assert dataclasses.replace(settings, client_id="other").served_orgs[0].client_id == "other"


def test_named_orgs_generate_readable_ids_and_fresh_secrets() -> None:
    first, second = named_orgs(ORG_NAMES), named_orgs(ORG_NAMES)
    assert [o.client_id for o in first] == [f"iac-mcp-sandbox-{n}" for n in ORG_NAMES] == [o.client_id for o in second]
    assert all(a.client_secret != b.client_secret and len(a.client_secret) >= 24 for a, b in zip(first, second, strict=True))
    settings = SandboxSettings(orgs=first)
    assert settings.client_id == first[0].client_id and settings.org("prod") is first[2]
    assert dataclasses.replace(settings, job_duration=0).served_orgs == tuple(first)
    assert {(u.org, u.username) for u in settings.served_users} == {(o, u) for o in ORG_NAMES for u in ("alice", "bob", "eve")}
    assert first[0].client_secret not in repr(settings) and first[0].client_secret not in repr(first[0])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: named_orgs(["dev", "dev"]), "named twice"),
        (lambda: named_orgs([]), "at least one org"),
        (lambda: named_orgs(["has space"]), "org name"),
        (lambda: SandboxSettings(orgs=[SandboxOrg("a", "same", "x"), SandboxOrg("b", "same", "y")]), "client id"),
        (lambda: SandboxSettings(orgs=[SandboxOrg("a", "a1", "x"), SandboxOrg("a", "a2", "y")]), "org name"),
        (lambda: SandboxSettings(client_id="mine", orgs=named_orgs(["dev"])), "give each org's"),
        (lambda: SandboxSettings(users=[SandboxUser("carol", "pw", org="nowhere")]), "not one of"),
        (lambda: SandboxOrg("dev", "with:colon", "x"), "must not contain ':'"),
        (lambda: SandboxUser("carol", "pw", frozenset({"notapermission"})), "domain:entity:action"),
    ],
)
def test_settings_refuse_what_cannot_be_served(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_an_unknown_org_name_lists_the_orgs() -> None:
    with pytest.raises(KeyError, match="dev, test, prod"):
        SandboxSettings(orgs=named_orgs(ORG_NAMES)).org("staging")


# --- The command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--org", "dev:only-id"], "NAME:CLIENT_ID:CLIENT_SECRET for org 'dev'"),
        (["--org", f"dev::{SECRET}"], "NAME:CLIENT_ID:CLIENT_SECRET"),
        (["--org", f"bad name:id:{SECRET}"], "org name 'bad name'"),
        (["--org", f"dev:id:{SECRET}", "--client-id", "x"], "--client-id/--client-secret"),
        (["--org", f"dev:id:{SECRET}", "--org", f"dev:id2:{SECRET}"], "org name must be unique"),
        (["--user", "alice"], "[ORG/]NAME:PASSWORD"),
        (["--user", f"nowhere/carol:{SECRET}"], "not one of"),
        (["--user", f"carol:{SECRET}:not-a-permission"], "domain:entity:action"),
    ],
)
def test_bad_org_and_user_flags_exit_2_naming_the_problem_not_the_secret(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and expected in err and SECRET not in err


def test_org_and_user_flags_become_settings() -> None:
    from iac_mcp.sandbox.serve import parser

    args = parser().parse_args(
        ["--org", f"dev:dev-id:{SECRET}:with:colons", "--org", "prod:prod-id:p", "--user", "prod/carol:pw:a:b:c,d:e:f"]
    )
    assert [(o.name, o.client_id, o.client_secret) for o in args.orgs] == [
        ("dev", "dev-id", f"{SECRET}:with:colons"),
        ("prod", "prod-id", "p"),
    ]
    [carol] = args.users
    assert (carol.org, carol.username, carol.password, carol.permissions) == ("prod", "carol", "pw", {"a:b:c", "d:e:f"})


def test_the_cli_serves_several_orgs_and_logs_their_client_ids_not_secrets() -> None:
    from test_sandbox_serve import free_port

    port = free_port()
    command = [
        sys.executable, "-c", "import sys; from iac_mcp.sandbox.serve import main; sys.exit(main(sys.argv[1:]))",
        "--port", str(port), "--org", f"dev:dev-client:{SECRET}-dev", "--org", f"prod:prod-client:{SECRET}-prod",
        "--user", f"prod/carol:{SECRET}-pw:infrastructureascode:job:add",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url) as client:
            ids = {}
            for name in ("dev", "prod"):
                org = SandboxOrg(name, f"{name}-client", f"{SECRET}-{name}")
                client.headers["Authorization"] = f"Bearer {_wait_for_token(client, org, process)}"
                ids[name] = integrations_of(client)["Genesys Cloud Data Actions"]
        assert ids["dev"] != ids["prod"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "dev-client" in stderr and "prod-client" in stderr and "carol" in stderr and SECRET not in stderr


def _wait_for_token(client: httpx.Client, org: SandboxOrg, process: subprocess.Popen[str]) -> str:
    for _ in range(400):
        try:
            return client_token(client, org)
        except httpx.ConnectError:
            with pytest.raises(subprocess.TimeoutExpired):  # still starting, not exited
                process.wait(0.05)
    raise AssertionError("the CLI sandbox did not start")
