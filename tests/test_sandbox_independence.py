"""The sandbox is the client's opponent, not its copy: it shares no code with the rest of
iac_mcp, it has one route table, and it refuses what a too-lenient client would let through
(the MCP-level guard is in test_sandbox_enum_guard.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import Sandbox

from iac_mcp.sandbox.app import ENDPOINTS
from iac_mcp.sandbox.faults import ROUTES

SANDBOX = Path(__file__).resolve().parents[1] / "iac_mcp" / "sandbox"
SIMPLE_QUEUE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"


def foreign_imports(path: Path) -> list[str]:
    """`iac_mcp` modules outside `iac_mcp.sandbox` that `path` imports, anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [n for n in names if (n == "iac_mcp" or n.startswith("iac_mcp.")) and not n.startswith("iac_mcp.sandbox")]
    return found


def test_the_sandbox_imports_nothing_from_the_rest_of_iac_mcp() -> None:
    modules = sorted(SANDBOX.rglob("*.py"))
    assert len(modules) >= 10
    offenders = {str(p.relative_to(SANDBOX)): foreign_imports(p) for p in modules}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_import_check_can_fail(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import iac_mcp.genesys.models\nfrom iac_mcp.logic import forms\n"
        "from iac_mcp.sandbox import spec\n\ndef f():\n    import iac_mcp\n"
    )
    assert foreign_imports(module) == ["iac_mcp.genesys.models", "iac_mcp.logic", "iac_mcp"]


def test_one_route_table_names_every_fault_route() -> None:
    assert [e.name for e in ENDPOINTS] == sorted(ROUTES, key=[e.name for e in ENDPOINTS].index)
    assert {e.name for e in ENDPOINTS} == set(ROUTES) and len(ENDPOINTS) == len(ROUTES)


def test_the_sandbox_itself_refuses_a_wrongly_cased_enum_value(sandbox: Sandbox) -> None:
    body = {
        "acceleratorId": SIMPLE_QUEUE,
        "parameters": [{"name": "queue_name", "value": "Q"}, {"name": "skill_evaluation_method", "value": "best"}],
    }
    answer = sandbox.client.post("/api/v2/infrastructureascode/jobs", json=body)
    assert answer.status_code == 400
    assert answer.json()["details"] == [{"errorCode": "not_allowed", "fieldName": "skill_evaluation_method"}]
