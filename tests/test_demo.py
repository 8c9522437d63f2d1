"""`iac-mcp demo`, the README's main job: a whole conversation over stdio, readable by a person."""

from __future__ import annotations

import subprocess
import sys

from servers import CLEAN_ENV


def test_the_demo_plays_the_whole_conversation() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "iac_mcp", "demo", "--job-duration", "0.3"],
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    steps = ["1. Discover", "2. Describe", "3. A first attempt, with mistakes", "4. Dry run", "5. Apply, with consent", "6. Report"]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "problem(s); nothing was submitted" in out
    assert "plan completed successfully" in out and "applied successfully" in out
    assert "Apply to the Genesys Cloud org" in out, "the consent question reaches the user"
    assert "Transcript complete" in out
