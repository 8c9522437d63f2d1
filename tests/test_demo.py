"""`iac-mcp demo`, the README's main job: a whole conversation over stdio, readable by a person."""

from __future__ import annotations

import subprocess
import sys

from servers import CLEAN_ENV


def demo(*args: str) -> str:
    """What `iac-mcp demo` prints, after checking it exited 0."""
    run = subprocess.run(
        [sys.executable, "-m", "iac_mcp", "demo", "--job-duration", "0.3", *args],
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_the_demo_plays_the_whole_conversation() -> None:
    out = demo()
    steps = [
        "1. Discover",
        "2. Describe",
        "3. A first attempt, with mistakes",
        "4. Dry run",
        "5. Apply, with consent",
        "6. Report",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "problem(s); nothing was submitted" in out
    assert "plan completed successfully" in out and "applied successfully" in out
    assert "Apply to the Genesys Cloud org" in out, "the consent question reaches the user"
    assert "Transcript complete" in out


def test_the_promotion_demo_carries_a_change_from_dev_to_prod_with_the_users_id() -> None:
    out = demo("--promote")
    steps = ["1. Prove it in dev", "2. Promote to prod", "3. Apply in prod, with consent"]
    assert [out.index(step) for step in steps] == sorted(out.index(step) for step in steps)
    assert "In prod it is " in out and "Values given for prod: integration_id" in out
    assert "Differences: none" in out and 'org at "prod (Sandbox org prod' in out
    assert "Done in prod: applied successfully." in out
