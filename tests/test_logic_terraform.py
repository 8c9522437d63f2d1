"""Parsing Terraform CLI output: realistic plan, apply, destroy and failure samples, plain and coloured."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iac_mcp.logic.terraform import (
    ResourceChange,
    TerraformSummary,
    parse_terraform_output,
    strip_ansi,
)

PLAN = """\
data.genesyscloud_auth_division_home.home: Reading...
data.genesyscloud_auth_division_home.home: Read complete after 0s [id=7e2b6c3a-58bb-4a1e-9d55-6cf36b8f3d10]
genesyscloud_routing_queue.support: Refreshing state... [id=0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a]
genesyscloud_flow.inbound: Refreshing state... [id=b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e]
genesyscloud_user.legacy_agent: Refreshing state... [id=9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d]

Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  + create
  ~ update in-place
  - destroy
-/+ destroy and then create replacement
 <= read (data resources)

Terraform will perform the following actions:

  # data.genesyscloud_integration.web_services will be read during apply
  # (depends on a resource or a module with changes pending)
 <= data "genesyscloud_integration" "web_services" {
      + id   = (known after apply)
      + name = "Web Services Data Actions"
    }

  # genesyscloud_flow.inbound must be replaced
-/+ resource "genesyscloud_flow" "inbound" {
      ~ file_content_hash = "5d41402abc4b2a76b9719d911017c592" -> "7d793037a0760186574b0282f2f435e7" # forces replacement
      ~ id                = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e" -> (known after apply)
        # (2 unchanged attributes hidden)
    }

  # genesyscloud_routing_queue.support will be updated in-place
  ~ resource "genesyscloud_routing_queue" "support" {
        id                       = "0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a"
      ~ name                     = "Support" -> "Customer Support"
        # (14 unchanged attributes hidden)

      ~ media_settings_call {
          ~ service_level_duration_ms = 20000 -> 30000
            # (2 unchanged attributes hidden)
        }
    }

  # genesyscloud_user.legacy_agent will be destroyed
  # (because genesyscloud_user.legacy_agent is not in configuration)
  - resource "genesyscloud_user" "legacy_agent" {
      - email = "legacy.agent@example.com" -> null
      - id    = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d" -> null
      - name  = "Legacy Agent" -> null
    }

  # module.data_action.genesyscloud_integration_action.action will be created
  + resource "genesyscloud_integration_action" "action" {
      + category        = "Web Services Data Actions"
      + config_request  = {
          + request_template     = "${input.rawRequest}"
          + request_type         = "GET"
          + request_url_template = "https://api.example.com/customers/${input.id}"
        }
      + id              = (known after apply)
      + integration_id  = (known after apply)
      + name            = "Customer Lookup"
      + secure          = false
    }

Plan: 2 to add, 1 to change, 2 to destroy.

Changes to Outputs:
  + data_action_id = (known after apply)
  ~ flow_id        = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e" -> (known after apply)
"""

NO_CHANGES = """\
genesyscloud_routing_queue.support: Refreshing state... [id=0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a]

No changes. Your infrastructure matches the configuration.

Terraform has compared your real infrastructure against your configuration
and found no differences, so no changes are needed.
"""

APPLY = """\
data.genesyscloud_auth_division_home.home: Reading...
data.genesyscloud_auth_division_home.home: Read complete after 0s [id=7e2b6c3a-58bb-4a1e-9d55-6cf36b8f3d10]

Terraform will perform the following actions:

  # genesyscloud_routing_queue.support will be created
  + resource "genesyscloud_routing_queue" "support" {
      + id   = (known after apply)
      + name = "Customer Support"
    }

  # module.data_action.genesyscloud_integration_action.action will be created
  + resource "genesyscloud_integration_action" "action" {
      + id   = (known after apply)
      + name = "Customer Lookup"
    }

  # genesyscloud_flow.inbound must be replaced
-/+ resource "genesyscloud_flow" "inbound" {
      ~ file_content_hash = "5d41402abc4b2a76b9719d911017c592" -> "7d793037a0760186574b0282f2f435e7" # forces replacement
    }

Plan: 3 to add, 0 to change, 1 to destroy.

Changes to Outputs:
  + queue_id = (known after apply)
genesyscloud_flow.inbound: Destroying... [id=b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e]
genesyscloud_routing_queue.support: Creating...
module.data_action.genesyscloud_integration_action.action: Creating...
genesyscloud_flow.inbound: Destruction complete after 1s
genesyscloud_flow.inbound: Creating...
genesyscloud_routing_queue.support: Creation complete after 2s [id=0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a]
module.data_action.genesyscloud_integration_action.action: Creation complete after 3s [id=c0ffee00-1234-4abc-9def-0123456789ab]
genesyscloud_flow.inbound: Still creating... [10s elapsed]
genesyscloud_flow.inbound: Creation complete after 14s [id=d00dfeed-5678-4abc-9def-0123456789ab]

Apply complete! Resources: 3 added, 0 changed, 1 destroyed.

Outputs:

api_key = <sensitive>
data_action_id = "c0ffee00-1234-4abc-9def-0123456789ab"
queue_id = "0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a"
skill_ids = [
  "1b2c3d4e-0000-4000-8000-000000000001",
  "1b2c3d4e-0000-4000-8000-000000000002",
]
"""

FAILED_APPLY = """\
data.genesyscloud_auth_division_home.home: Reading...
data.genesyscloud_auth_division_home.home: Read complete after 0s [id=7e2b6c3a-58bb-4a1e-9d55-6cf36b8f3d10]

Terraform will perform the following actions:

  # module.data_action.genesyscloud_integration_action.action will be created
  + resource "genesyscloud_integration_action" "action" {
      + id   = (known after apply)
      + name = "Customer Lookup"
    }

Plan: 1 to add, 0 to change, 0 to destroy.
module.data_action.genesyscloud_integration_action.action: Creating...
╷
│ Warning: Deprecated attribute
│ 
│   on main.tf line 30, in resource "genesyscloud_routing_queue" "support":
│   30:   skill_evaluation_method = "ALL"
│ 
│ The attribute "skill_evaluation_method" is deprecated. Refer to the
│ provider documentation for details.
╵
╷
│ Error: Failed to create integration action Customer Lookup
│ 
│   with module.data_action.genesyscloud_integration_action.action,
│   on main.tf line 12, in resource "genesyscloud_integration_action" "action":
│   12: resource "genesyscloud_integration_action" "action" {
│ 
│ API Error: 400 - The request could not be understood by the server due to
│ malformed syntax. (Correlation ID: 5f0c6a1e-7d2b-4e9f-8a3c-1b2d3e4f5a6b)
╵
"""

DESTROY = """\
Terraform will perform the following actions:

  # genesyscloud_routing_queue.support will be destroyed
  - resource "genesyscloud_routing_queue" "support" {
      - id   = "0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a" -> null
      - name = "Customer Support" -> null
    }

Plan: 0 to add, 0 to change, 1 to destroy.
genesyscloud_routing_queue.support: Destroying... [id=0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a]
genesyscloud_routing_queue.support: Destruction complete after 1s

Destroy complete! Resources: 1 destroyed.
"""

OLD_STYLE_ERROR = """\
Error: Missing required argument

  on main.tf line 3, in resource "genesyscloud_routing_queue" "support":
   3: resource "genesyscloud_routing_queue" "support" {

The argument "name" is required, but no definition was found.
"""

SAMPLES = [PLAN, NO_CHANGES, APPLY, FAILED_APPLY, DESTROY, OLD_STYLE_ERROR]

# --- Colouring the way Terraform does ---------------------------------------------------

RESET, BOLD, RED, GREEN, YELLOW, CYAN = "\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m"
_SYMBOL_COLOURS = {"+": GREEN, "-": RED, "~": YELLOW, "-/+": RED, "<=": CYAN}


def colourise(text: str) -> str:
    """Insert (never replace) the escape sequences Terraform 1.x writes on a terminal."""
    out: list[str] = []
    for line in text.split("\n"):
        if m := re.match(r"^(\s*)(# \S.*?)( (?:will|must) .*)$", line):
            line = f"{m[1]}{BOLD}{m[2]}{RESET}{m[3]}{RESET}"
        elif m := re.match(r"^(\s*)(-/\+|<=|[+~-])( .*)$", line):
            line = f"{m[1]}{_SYMBOL_COLOURS[m[2]]}{m[2]}{RESET}{RESET}{m[3]}"
        elif line.startswith("Plan:"):
            line = f"{BOLD}Plan:{RESET} {line[6:]}"
        elif line.startswith(("Apply complete!", "Destroy complete!", "No changes.", "Outputs:")):
            line = f"{RESET}{BOLD}{GREEN}{line}{RESET}"
        elif line in ("╷", "╵") or line.startswith("│"):
            colour = RED if "Error" in text else YELLOW
            rest = line[1:]
            if rest.startswith(" Error: ") or rest.startswith(" Warning: "):
                label, _, summary = rest[1:].partition(" ")
                rest = f" {RESET}{BOLD}{colour}{label} {RESET}{RESET}{BOLD}{summary}{RESET}"
            line = f"{colour}{line[0]}{RESET}{rest}"
        elif re.match(r"^\S.*?: (Creating|Creation|Destroying|Destruction|Modifying|Modifications|Reading|Read|Still)", line):
            line = f"{RESET}{BOLD}{line}{RESET}{RESET}"
        elif line.startswith("Error: "):
            line = f"{BOLD}{RED}Error: {RESET}{RESET}{BOLD}{line[7:]}{RESET}"
        out.append(line)
    return "\n".join(out)


# --- strip_ansi ----------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_colourise_inserts_codes_and_strip_ansi_removes_exactly_them(sample: str) -> None:
    coloured = colourise(sample)
    assert "\x1b[" in coloured
    assert strip_ansi(coloured) == sample


def test_strip_ansi_handles_osc_hyperlinks_and_cursor_codes() -> None:
    text = "\x1b]8;;https://registry.terraform.io\x1b\\docs\x1b]8;;\x1b\\ \x1b[2K\x1b[1A\x1b[38;5;196mred\x1b[0m \x1b]0;title\x07!"
    assert strip_ansi(text) == "docs red !"


# --- Plan ----------------------------------------------------------------------------


@pytest.mark.parametrize("colour", [False, True])
def test_plan_counts_and_resources(colour: bool) -> None:
    summary = parse_terraform_output(colourise(PLAN) if colour else PLAN)
    assert summary.kind == "plan"
    assert summary.complete
    assert (summary.to_add, summary.to_change, summary.to_destroy) == (2, 1, 2)
    assert summary.resources == [
        ResourceChange(address="data.genesyscloud_integration.web_services", action="read"),
        ResourceChange(address="genesyscloud_flow.inbound", action="replace"),
        ResourceChange(address="genesyscloud_routing_queue.support", action="update"),
        ResourceChange(address="genesyscloud_user.legacy_agent", action="destroy"),
        ResourceChange(address="module.data_action.genesyscloud_integration_action.action", action="create"),
    ]
    assert summary.outputs == {}  # "Changes to Outputs:" is not the Outputs block
    assert summary.errors == [] and summary.warnings == []


@pytest.mark.parametrize("colour", [False, True])
def test_no_changes_is_a_complete_empty_plan(colour: bool) -> None:
    summary = parse_terraform_output(colourise(NO_CHANGES) if colour else NO_CHANGES)
    assert summary == TerraformSummary(kind="plan", complete=True)


@pytest.mark.parametrize(
    ("header", "address", "action"),
    [
        ('# module.queues["tier 1"].genesyscloud_routing_queue.q[0] will be created', 'module.queues["tier 1"].genesyscloud_routing_queue.q[0]', "create"),
        ("# genesyscloud_flow.inbound is tainted, so must be replaced", "genesyscloud_flow.inbound", "replace"),
        ("# genesyscloud_flow.inbound will be replaced, as requested", "genesyscloud_flow.inbound", "replace"),
        ("# genesyscloud_flow.inbound (deposed object 1a2b3c4d) will be destroyed", "genesyscloud_flow.inbound", "destroy"),
    ],
)
def test_plan_header_variants(header: str, address: str, action: str) -> None:
    summary = parse_terraform_output(f"  {header}\n\nPlan: 1 to import, 1 to add, 0 to change, 1 to destroy.\n")
    assert summary.resources == [ResourceChange(address=address, action=action)]  # type: ignore[arg-type]
    assert (summary.to_add, summary.to_change, summary.to_destroy) == (1, 0, 1)


def test_resources_that_merely_changed_outside_terraform_are_not_planned_changes() -> None:
    text = "  # genesyscloud_routing_queue.support has changed\n  # genesyscloud_flow.x has moved to genesyscloud_flow.y\n"
    assert parse_terraform_output(text).resources == []


# --- Apply and destroy -----------------------------------------------------------------


@pytest.mark.parametrize("colour", [False, True])
def test_apply_counts_resources_with_ids_and_outputs(colour: bool) -> None:
    summary = parse_terraform_output(colourise(APPLY) if colour else APPLY)
    assert summary.kind == "apply"
    assert summary.complete
    assert (summary.to_add, summary.to_change, summary.to_destroy) == (3, 0, 1)
    assert summary.resources == [
        ResourceChange(address="genesyscloud_flow.inbound", action="replace", id="d00dfeed-5678-4abc-9def-0123456789ab"),
        ResourceChange(address="genesyscloud_routing_queue.support", action="create", id="0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a"),
        ResourceChange(
            address="module.data_action.genesyscloud_integration_action.action",
            action="create",
            id="c0ffee00-1234-4abc-9def-0123456789ab",
        ),
    ]
    assert summary.outputs == {
        "api_key": "<sensitive>",
        "data_action_id": '"c0ffee00-1234-4abc-9def-0123456789ab"',
        "queue_id": '"0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a"',
        "skill_ids": '[\n  "1b2c3d4e-0000-4000-8000-000000000001",\n  "1b2c3d4e-0000-4000-8000-000000000002",\n]',
    }


def test_apply_update_and_sensitive_plan_output() -> None:
    text = (
        "genesyscloud_routing_queue.support: Modifying... [id=q-1]\n"
        "genesyscloud_routing_queue.support: Modifications complete after 1m2s [id=q-1]\n\n"
        "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.\n\nOutputs:\n\ntoken = (sensitive value)\n\nReleasing state lock.\n"
    )
    summary = parse_terraform_output(text)
    assert summary.resources == [ResourceChange(address="genesyscloud_routing_queue.support", action="update", id="q-1")]
    assert (summary.to_add, summary.to_change, summary.to_destroy) == (0, 1, 0)
    assert summary.outputs == {"token": "(sensitive value)"}


@pytest.mark.parametrize("colour", [False, True])
def test_destroy(colour: bool) -> None:
    summary = parse_terraform_output(colourise(DESTROY) if colour else DESTROY)
    assert summary.kind == "destroy"
    assert summary.complete
    assert (summary.to_add, summary.to_change, summary.to_destroy) == (0, 0, 1)
    assert summary.resources == [ResourceChange(address="genesyscloud_routing_queue.support", action="destroy")]


# --- Failures and diagnostics -----------------------------------------------------------


@pytest.mark.parametrize("colour", [False, True])
def test_failed_apply_with_boxed_error_and_warning(colour: bool) -> None:
    summary = parse_terraform_output(colourise(FAILED_APPLY) if colour else FAILED_APPLY)
    assert summary.kind == "apply"
    assert not summary.complete
    assert (summary.to_add, summary.to_change, summary.to_destroy) == (0, 0, 0)
    assert summary.resources == []
    [error] = summary.errors
    assert error.summary == "Failed to create integration action Customer Lookup"
    assert error.address == "module.data_action.genesyscloud_integration_action.action"
    assert error.detail.splitlines() == [
        "  with module.data_action.genesyscloud_integration_action.action,",
        '  on main.tf line 12, in resource "genesyscloud_integration_action" "action":',
        '  12: resource "genesyscloud_integration_action" "action" {',
        "",
        "API Error: 400 - The request could not be understood by the server due to",
        "malformed syntax. (Correlation ID: 5f0c6a1e-7d2b-4e9f-8a3c-1b2d3e4f5a6b)",
    ]
    [warning] = summary.warnings
    assert warning.summary == "Deprecated attribute"
    assert warning.address is None
    assert warning.detail.endswith("provider documentation for details.")


@pytest.mark.parametrize("colour", [False, True])
def test_old_style_plain_error(colour: bool) -> None:
    summary = parse_terraform_output(colourise(OLD_STYLE_ERROR) if colour else OLD_STYLE_ERROR)
    assert summary.kind == "unknown"
    assert not summary.complete
    [error] = summary.errors
    assert error.summary == "Missing required argument"
    assert error.detail.splitlines()[0] == '  on main.tf line 3, in resource "genesyscloud_routing_queue" "support":'
    assert error.detail.splitlines()[-1] == 'The argument "name" is required, but no definition was found.'


def test_plain_errors_end_at_the_next_diagnostic() -> None:
    summary = parse_terraform_output("Error: first\n\ndetail one\n\nError: second\nWarning: careful\n")
    assert [(e.summary, e.detail) for e in summary.errors] == [("first", "detail one"), ("second", "")]
    assert [w.summary for w in summary.warnings] == ["careful"]


def test_windows_line_endings() -> None:
    summary = parse_terraform_output(APPLY.replace("\n", "\r\n"))
    assert summary.kind == "apply" and summary.outputs["queue_id"] == '"0f3d1a8e-5a9c-4c4e-8a0e-2b6c9d5e1f7a"'


# --- Robustness ----------------------------------------------------------------------


def test_empty_and_garbage_text() -> None:
    assert parse_terraform_output("") == TerraformSummary()
    assert parse_terraform_output("Plan: " + "9" * 5000 + " to add, 1 to change, 0 to destroy.").to_change == 1


_FRAGMENTS = [line for sample in SAMPLES for line in colourise(sample).split("\n")] + ["│", "╷", "╵", "Outputs:", "Error:", "\x1b", "\x1b[", "\x1b]"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=40)), max_size=40).map("\n".join))
def test_any_text_gives_a_summary(text: str) -> None:
    summary = parse_terraform_output(text)
    assert isinstance(summary, TerraformSummary)
    assert min(summary.to_add, summary.to_change, summary.to_destroy) >= 0
    assert summary.kind != "unknown" or not summary.complete
