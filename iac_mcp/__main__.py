"""`python -m iac_mcp`: the same as the `iac-mcp` command."""

from iac_mcp.startup import main

raise SystemExit(main())
