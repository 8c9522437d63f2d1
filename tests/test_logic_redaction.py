"""Masking secrets in Terraform text, JSON and nested job payloads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iac_mcp.logic.redaction import MASK, mask_assignments, mask_values, redact

SECRET = "s3cr3t-Pa$$w0rd"

PLAN_WITH_SECRETS = f"""\
  # module.data_action.genesyscloud_integration_credential.basic_auth will be updated in-place
  ~ resource "genesyscloud_integration_credential" "basic_auth" {{
        id     = "5b1f0c9a-2d3e-4f5a-8b7c-9d0e1f2a3b4c"
        name   = "Customer API credentials"
      ~ fields = {{
          ~ "password" = "old-{SECRET}" -> "{SECRET}"
            "userName" = "svc-genesys"
        }}
      ~ client_secret = (sensitive value)
    }}

Plan: 0 to add, 1 to change, 0 to destroy.
╷
│ Error: Failed to update credential: API Error: 400 - invalid password {SECRET}
╵
"""


# --- mask_values ---------------------------------------------------------------------


def test_secret_in_several_places() -> None:
    masked = mask_values(PLAN_WITH_SECRETS, [SECRET])
    assert SECRET not in masked
    assert masked.count(MASK) == 3
    assert f'"old-{MASK}" -> "{MASK}"' in masked
    assert "invalid password ********" in masked


@pytest.mark.parametrize("secret", ["a.b*c+d?", "(x|y)[z]{2}^$", r"back\slash\1", "new\nline"])
def test_regex_metacharacters_are_literal(secret: str) -> None:
    text = f"before {secret} middle {secret} after axbxc"
    assert mask_values(text, [secret]) == f"before {MASK} middle {MASK} after axbxc"


def test_json_escaped_form_is_masked() -> None:
    secret = 'quote"and\\backslash é'
    body = json.dumps({"message": f"bad value {secret}"})
    masked = mask_values(body, [secret])
    assert json.loads(masked) == {"message": f"bad value {MASK}"}
    ascii_body = json.dumps({"m": secret}, ensure_ascii=True)
    assert json.loads(mask_values(ascii_body, [secret])) == {"m": MASK}


def test_overlapping_and_nested_secrets_mask_fully() -> None:
    assert mask_values("xx abcde yy", ["abc", "cde"]) == f"xx {MASK} yy"
    assert mask_values("token=abcdef", ["abc", "abcdef"]) == f"token={MASK}"
    assert mask_values("aaaa", ["aa"]) == MASK


def test_empty_and_absent_secrets_change_nothing() -> None:
    assert mask_values("nothing here", ["", "absent"]) == "nothing here"
    assert mask_values("", ["x"]) == ""


def test_secret_containing_mask_characters() -> None:
    assert mask_values("pw=p*ss* end", ["p*ss*"]) == f"pw={MASK} end"


_SECRET_CHARS = st.characters(blacklist_characters="*", blacklist_categories=("Cs",))


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text(_SECRET_CHARS, min_size=1, max_size=6), min_size=1, max_size=4),
    data=st.data(),
)
def test_no_secret_survives(secrets: list[str], data: st.DataObject) -> None:
    # A secret with no "*" cannot be rebuilt from the mask and its neighbours, so none may remain.
    fillers = st.text(_SECRET_CHARS, max_size=4)
    pieces = data.draw(st.lists(st.one_of(st.sampled_from(secrets), fillers), max_size=12))
    masked = mask_values("".join(pieces), secrets)
    for secret in secrets:
        assert secret not in masked


# --- mask_assignments ----------------------------------------------------------------


def test_mask_assignments_in_a_plan_diff() -> None:
    masked = mask_assignments(PLAN_WITH_SECRETS, ["password", "client_secret"])
    assert f'~ "password" = "{MASK}" -> "{MASK}"' in masked
    assert "~ client_secret = (sensitive value)" in masked
    assert '"userName" = "svc-genesys"' in masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('api_key = "abc\\"def"', f'api_key = "{MASK}"'),
        ("api_key = abc123", f"api_key = {MASK}"),
        ('{"api_key": "abc", "name": "x"}', f'{{"api_key": "{MASK}", "name": "x"}}'),
        ("api_key: my pass phrase", f"api_key: {MASK}"),
        ("api_key: 'single'", f"api_key: '{MASK}'"),
        ('  ~ api_key = "old" -> "new"', f'  ~ api_key = "{MASK}" -> "{MASK}"'),
        ("  ~ api_key = 1234 -> 5678", f"  ~ api_key = {MASK} -> {MASK}"),
        ('  ~ api_key = "old" -> null', f'  ~ api_key = "{MASK}" -> null'),
        ("  + api_key = (sensitive value)", "  + api_key = (sensitive value)"),
        ("  + api_key = (known after apply)", "  + api_key = (known after apply)"),
        ("api_key = <sensitive>", "api_key = <sensitive>"),
        ("{ api_key = x, other = y }", f"{{ api_key = {MASK}, other = y }}"),
        ('my_api_key = "keep"', 'my_api_key = "keep"'),
        ('api_key_id = "keep"', 'api_key_id = "keep"'),
        ("api_key", "api_key"),
    ],
)
def test_mask_assignment_shapes(text: str, expected: str) -> None:
    assert mask_assignments(text, ["api_key"]) == expected


def test_mask_assignments_names_are_literal() -> None:
    assert mask_assignments('a.b = "x"\naxb = "y"', ["a.b"]) == f'a.b = "{MASK}"\naxb = "y"'
    assert mask_assignments('x = "y"', []) == 'x = "y"'


# --- redact --------------------------------------------------------------------------


def test_redact_walks_json_like_values() -> None:
    job = {
        "id": "job-1",
        "dryRun": True,
        "results": PLAN_WITH_SECRETS,
        "parameters": [
            {"name": "client_secret", "value": "whatever-it-is"},
            {"name": "action_name", "value": f"lookup {SECRET}"},
        ],
        "errorInfo": {"message": 'api_password = "unknown-to-us"', "code": None},
        "api_password": 12345,
    }
    redacted = redact(job, [SECRET], ["client_secret", "api_password", "password"])
    assert SECRET not in json.dumps(redacted)
    assert redacted["parameters"] == [
        {"name": "client_secret", "value": MASK},
        {"name": "action_name", "value": f"lookup {MASK}"},
    ]
    assert redacted["errorInfo"] == {"message": f'api_password = "{MASK}"', "code": None}
    assert redacted["api_password"] == MASK
    assert redacted["id"] == "job-1" and redacted["dryRun"] is True
    assert "~ client_secret = (sensitive value)" in redacted["results"]
    assert job["parameters"][0]["value"] == "whatever-it-is"  # the input is not modified


def test_redact_plain_scalars() -> None:
    assert redact(SECRET, [SECRET], []) == MASK
    assert redact(3, [SECRET], ["x"]) == 3
    assert redact(None, [], []) is None
