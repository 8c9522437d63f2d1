"""The layers as the README draws them: no import cycle, the product never imports the twin."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "iac_mcp"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every iac_mcp module `path` imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("iac_mcp")}


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str | None:
    """The module an imported name lives in (`a.b.Thing` → `a.b`)."""
    while name and name not in GRAPH:
        name = name.rpartition(".")[0]
    return name or None


EDGES = {m: {t for t in (resolve(n) for n in names) if t and t != m} for m, names in GRAPH.items()}


def test_no_import_cycle() -> None:
    """A package's __init__ importing its own submodules is the one allowed back edge."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(EDGES[module]):
            if target.startswith(module + "."):
                continue  # a package re-exporting its own modules
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(EDGES):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_the_product_never_imports_the_sandbox() -> None:
    layers = ("iac_mcp.server", "iac_mcp.genesys", "iac_mcp.logic", "iac_mcp.ledger", "iac_mcp.transports")
    offenders = {
        module: sorted(t for t in targets if t.startswith("iac_mcp.sandbox"))
        for module, targets in EDGES.items()
        if module.startswith(layers)
    }
    assert not {m: t for m, t in offenders.items() if t}


def test_pure_logic_does_no_io() -> None:
    banned = ("httpx", "anyio", "sqlalchemy", "mcp", "starlette", "uvicorn", "socket", "subprocess")
    offenders = []
    for path in (PACKAGE / "logic").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in banned]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(("iac_mcp.server", "iac_mcp.ledger"))]
    assert not offenders, offenders


def test_data_flows_one_way() -> None:
    """The Genesys client never reaches up into the server, the ledger or the transports."""
    upward = ("iac_mcp.server", "iac_mcp.transports", "iac_mcp.ledger", "iac_mcp.startup", "iac_mcp.upstream")
    offenders = {m: sorted(t for t in EDGES[m] if t.startswith(upward)) for m in EDGES if m.startswith("iac_mcp.genesys")}
    assert not {m: t for m, t in offenders.items() if t}


def test_texts_for_agents_name_only_real_tools() -> None:
    """instructions.md and the prompts are prose: a renamed tool must not leave them stale."""
    from iac_mcp.vocabulary import ToolName

    names = {tool.value for tool in ToolName}
    texts = [PACKAGE / "server" / "instructions.md", *(PACKAGE.parent / "prompts").glob("*.md")]
    mentioned = {
        (path.name, word)
        for path in texts
        for word in re.findall(r"`((?:list|describe|submit|get|read|show)-[a-z-]+)`", path.read_text(encoding="utf-8"))
    }
    assert mentioned, "the check reads the texts"
    assert {m for m in mentioned if m[1] not in names} == set()
