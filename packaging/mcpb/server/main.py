"""The bundle's entry point: `iac-mcp serve` over stdio, configured by the manifest's environment.

It runs the installed package's own `iac-mcp` console script, so it stays right whatever module
the script lives in.
"""

import sys
from importlib.metadata import entry_points

if __name__ == "__main__":
    (script,) = entry_points(group="console_scripts", name="iac-mcp")
    sys.argv = ["iac-mcp", "serve", *sys.argv[1:]]
    sys.exit(script.load()())
