"""Build the Claude Desktop bundle (`.mcpb`) from a built iac-mcp wheel.

    python -m build --wheel --outdir dist
    python packaging/mcpb/pack.py dist/iac_mcp-<version>-py3-none-any.whl dist/iac-mcp-<version>.mcpb

The bundle is this directory's manifest.json, pyproject.toml and server/, plus the wheel in
wheels/: Claude Desktop's uv runtime installs it (its dependencies come from PyPI), so the bundle
needs no Python of the user's own. `mcpb validate` and `mcpb pack` come from the npm package
@anthropic-ai/mcpb (run through npx unless --mcpb names an installed `mcpb`).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MCPB_PACKAGE = "@anthropic-ai/mcpb@2.1.2"
CONTENTS = ("manifest.json", "pyproject.toml", "server")


def stage(wheel: Path, directory: Path) -> Path:
    """Lay the bundle's files out in `directory` (the wheel under wheels/) and return it."""
    for name in CONTENTS:
        source = HERE / name
        if source.is_dir():
            shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, directory / name)
    (directory / "wheels").mkdir()
    shutil.copy2(wheel, directory / "wheels" / wheel.name)
    return directory


def pack(wheel: Path, output: Path, mcpb: list[str]) -> Path:
    with tempfile.TemporaryDirectory(prefix="iac-mcp-mcpb-") as tmp:
        bundle = stage(wheel, Path(tmp))
        subprocess.run([*mcpb, "validate", str(bundle / "manifest.json")], check=True)
        output.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*mcpb, "pack", str(bundle), str(output)], check=True)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="the iac-mcp wheel to bundle")
    parser.add_argument("output", type=Path, help="the .mcpb file to write")
    parser.add_argument("--mcpb", help="the mcpb command line, shell-quoted (default: npx --yes " + MCPB_PACKAGE + ")")
    args = parser.parse_args(argv)
    mcpb = shlex.split(args.mcpb) if args.mcpb else ["npx", "--yes", MCPB_PACKAGE]
    pack(args.wheel.resolve(), args.output.resolve(), mcpb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
