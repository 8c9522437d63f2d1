"""Prompts: the templates parse, list and render in both eras; malformed files fail start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from servers import ERAS, connected, sandbox

from iac_mcp.server.prompts import PROMPTS_DIR, PromptFileError, load_prompts, parse_prompt

pytestmark = pytest.mark.anyio

REPO_PROMPTS = Path(__file__).resolve().parents[1] / "prompts"

REQUIRED_PROMPTS = {
    "deploy-accelerator": {"goal": True, "accelerator_id": False, "environment": False},
    "troubleshoot-job": {"job_id": True},
    "review-recent-jobs": {"status": False, "accelerator_id": False},
}

VALID = """\
---
name: sample
title: A sample
description: For tests.
arguments:
  - name: needed
    description: Always given.
    required: true
  - name: extra
    description: Sometimes given.
---
Needed: {needed}
{?extra}Extra: {extra}
{!extra}No extra.
"""


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


def test_the_packaged_folder_is_the_top_level_prompts_folder() -> None:
    assert Path(str(PROMPTS_DIR)).resolve() == REPO_PROMPTS
    assert {p.stem for p in REPO_PROMPTS.glob("*.md")} >= set(REQUIRED_PROMPTS)


@pytest.mark.parametrize("path", sorted(REPO_PROMPTS.glob("*.md")), ids=lambda p: p.name)
def test_every_prompt_file_parses_and_names_its_tools(path: Path) -> None:
    template = parse_prompt(path.read_text(encoding="utf-8"))
    assert template.name == path.stem and template.title and template.description
    if template.name in REQUIRED_PROMPTS:
        assert {a.name: a.required for a in template.arguments} == REQUIRED_PROMPTS[template.name]
    tools = {"list-accelerators", "describe-accelerator", "submit-job", "get-job", "list-jobs"}
    assert any(f"`{tool}`" in template.body for tool in tools), "a prompt must name the tools it expects"


def test_optional_lines_appear_only_when_given() -> None:
    template = parse_prompt(VALID)
    assert template.render({"needed": "A"}) == "Needed: A\nNo extra.\n"
    assert template.render({"needed": "A", "extra": " B "}) == "Needed: A\nExtra: B\n"
    assert template.render({"needed": "A", "extra": "  "}) == "Needed: A\nNo extra.\n"
    assert template.render({"needed": "{extra}", "extra": "x"}) == "Needed: {extra}\nExtra: x\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\n", "must start with a '---'"),
        ("---\nname: x\ndescription: d\n", "no closing '---'"),
        ("---\ndescription: d\n---\nbody\n", "no 'name'"),
        ("---\nname: x\n---\nbody\n", "no 'description'"),
        ("---\nname: x\ndescription: d\nauthor: me\n---\nbody\n", "unknown key 'author'"),
        ("---\nname: x\nname: y\ndescription: d\n---\nbody\n", "'name' is given twice"),
        ("---\nname: Bad Name\ndescription: d\n---\nbody\n", "lower-case words"),
        ("---\nname: x\ndescription: d\n---\n{nobody}\n", "{nobody} names no declared argument"),
        ("---\nname: x\ndescription: d\n---\n  \n", "body after the front matter is empty"),
        ("---\nname: x\ndescription: d\narguments:\n---\nbody\n", "lists no argument"),
        ("---\nname: x\ndescription: d\narguments:\n  - name: a\n---\n{a}\n", "argument 'a' has no description"),
        ("---\nname: x\ndescription: d\narguments:\n  - name: a\n    description: d\n    default: 1\n---\n{a}\n", "unknown argument key 'default'"),
        ("---\nname: x\ndescription: d\narguments:\n  - name: a\n    description: d\n    required: yes\n---\n{a}\n", "must be true or false"),
        (
            "---\nname: x\ndescription: d\narguments:\n  - name: a\n    description: d\n  - name: a\n    description: e\n---\nb\n",
            "'a' is declared twice",
        ),
        ("---\nname: x\ndescription: d\narguments:\n  - name: a\n    description: d\n---\nSee {a}.\n", "optional {a} must be on a line starting with {?a}"),
        ("---\nname: x\ndescription: d\narguments:\n  - name: a\n    description: d\n---\nSee {?a}.\n", "{?a} must start the line"),
        (
            "---\nname: x\ndescription: d\narguments:\n  - name: a\n    description: d\n    required: true\n---\n{?a}{a}\n",
            "guards a required argument",
        ),
        ("---\nname: x\ndescription: d\n  indented: 1\n---\nbody\n", "unexpected indentation"),
    ],
)
def test_malformed_files_fail_naming_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "good.md").write_text(VALID, encoding="utf-8")
    (tmp_path / "broken.md").write_text(text, encoding="utf-8")
    with pytest.raises(PromptFileError) as caught:
        load_prompts(tmp_path)
    assert str(tmp_path / "broken.md") in str(caught.value)
    assert problem in str(caught.value)


def test_duplicate_names_fail_naming_both_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.md").write_text(VALID, encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"b\.md: name 'sample' is already used by .*a\.md"):
        load_prompts(tmp_path)


def test_an_empty_or_missing_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(PromptFileError, match="has no"):
        load_prompts(tmp_path)
    with pytest.raises(PromptFileError, match="does not exist"):
        load_prompts(tmp_path / "absent")


async def test_prompts_are_listed_with_their_arguments(era: str) -> None:
    async with connected(sandbox(), era) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {t.name for t in load_prompts()} >= set(REQUIRED_PROMPTS)
    for name, arguments in REQUIRED_PROMPTS.items():
        prompt = prompts[name]
        assert prompt.title and prompt.description
        assert {a.name: a.required for a in prompt.arguments or []} == arguments
        assert all(a.description for a in prompt.arguments or [])


async def test_deploy_accelerator_renders_with_and_without_optional_arguments(era: str) -> None:
    async with connected(sandbox(), era) as client:
        bare = await client.get_prompt("deploy-accelerator", {"goal": "a callback queue for billing"})
        full = await client.get_prompt(
            "deploy-accelerator",
            {"goal": "a callback queue for billing", "accelerator_id": "acc-123", "environment": "test org"},
        )
    [message] = bare.messages
    text = message.content.text
    assert message.role == "user" and "a callback queue for billing" in text
    assert "show me the two or three best candidates" in text and "acc-123" not in text and "environment" not in text
    for step in ("`list-accelerators`", "`describe-accelerator`", "dry_run=true", "explicitly", "plan_token", "Report"):
        assert step in text
    full_text = full.messages[0].content.text
    assert "`acc-123`" in full_text and "test org environment" in full_text
    assert "best candidates" not in full_text
    assert "{" not in text + full_text


async def test_troubleshoot_and_review_render(era: str) -> None:
    async with connected(sandbox(), era) as client:
        trouble = await client.get_prompt("troubleshoot-job", {"job_id": "job-42"})
        review = await client.get_prompt("review-recent-jobs", {})
        filtered = await client.get_prompt("review-recent-jobs", {"status": "Failed", "accelerator_id": "acc-9"})
    assert "`get-job` with `job_id=job-42`" in trouble.messages[0].content.text
    assert "rollback" in trouble.messages[0].content.text
    assert "Only look" not in review.messages[0].content.text and "`list-jobs`" in review.messages[0].content.text
    assert "status Failed" in filtered.messages[0].content.text and "`acc-9`" in filtered.messages[0].content.text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "needs a value for 'job_id'"),
        ({"job_id": "  "}, "needs a value for 'job_id'"),
        ({"job_id": "j", "jobid": "j"}, "has no argument 'jobid'"),
    ],
)
async def test_bad_arguments_are_invalid_params(era: str, arguments: dict[str, str], message: str) -> None:
    async with connected(sandbox(), era) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("troubleshoot-job", arguments)
    assert caught.value.error.code == -32602
    assert message in caught.value.error.message
