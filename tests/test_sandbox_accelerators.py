"""Accelerator catalogue and listing routes of the sandbox, over real HTTP."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Sandbox
from test_sandbox_platform import assert_genesys_error

from iac_mcp.sandbox.catalog import BUILTIN_DIR, CatalogError, load_catalog
from iac_mcp.sandbox.jobs import FAILURE_DEMO_ID
from iac_mcp.sandbox.spec import METADATA_KEYS, PROPERTY_TEXT_KEYS, SPEC_KEYS, form_of, wire_spec
from iac_mcp.sandbox.vocabulary import same

LIST = "/api/v2/infrastructureascode/accelerators"
BUILTIN = {path.name: json.loads(path.read_text()) for path in sorted(BUILTIN_DIR.glob("*.json"))}


def props(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [prop for page in raw["presentation"] for entry in page["schema"]["properties"] for prop in entry.values()]


def without_nulls(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if value is not None}


def test_builtin_catalogue_covers_the_documented_variety() -> None:
    specs = list(BUILTIN.values())
    assert len(specs) >= 12
    assert {s["type"] for s in specs} == {"module", "accelerator", "blueprint"}
    assert {s["origin"] for s in specs} == {"genesys", "partner", "community"}
    assert sum(1 for s in specs if 2 <= len(s["presentation"]) <= 3) >= 2
    assert any(s["classification"] is None for s in specs)
    every = [p for s in specs for p in props(s)]
    assert {p["type"] for p in every} >= {"string", "boolean", "number", "integer"}
    assert {p["type"] for p in every} <= {"string", "boolean", "number", "integer"}
    assert any(p.get("sensitive") == "true" for p in every)
    assert any(p.get("enum") for p in every) and any(p.get("help") for p in every) and any(p.get("displayname") for p in every)
    assert all(isinstance(p[key], str) for p in every for key in PROPERTY_TEXT_KEYS if key in p)
    assert all(s["permissions"] and s["results"]["entities"] for s in specs)
    assert FAILURE_DEMO_ID in {s["id"] for s in specs}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_spec_is_a_valid_spec_with_a_uuid(name: str) -> None:
    raw = BUILTIN[name]
    assert str(uuid.UUID(raw["id"])) == raw["id"]
    form = form_of(wire_spec(raw, LIST))
    assert form
    for parameter in form:
        if parameter.enum and parameter.default is not None:
            assert parameter.default in parameter.enum


def test_builtin_ids_are_unique() -> None:
    assert max(Counter(s["id"] for s in BUILTIN.values()).values()) == 1


def test_default_listing(sandbox: Sandbox) -> None:
    body = sandbox.client.get(LIST).json()
    assert (body["pageSize"], body["pageNumber"], body["total"], body["pageCount"]) == (25, 1, len(BUILTIN), 1)
    assert body["selfUri"] == f"{LIST}?pageSize=25&pageNumber=1"
    assert "nextUri" not in body and "previousUri" not in body
    entity = next(e for e in body["entities"] if e["id"] == FAILURE_DEMO_ID)
    assert set(entity) == {"id", "name", "description", "origin", "type", "classification", "tags", "selfUri"}
    assert entity["selfUri"] == f"{LIST}/{FAILURE_DEMO_ID}"
    names = [e["name"].casefold() for e in body["entities"]]
    assert names == sorted(names)


def test_paging_through_next_uris_visits_every_accelerator_once(sandbox: Sandbox) -> None:
    seen: list[str] = []
    uri: str | None = f"{LIST}?pageSize=5&origin=GENESYS"
    pages = []
    while uri:
        body = sandbox.client.get(uri).json()
        pages.append(body)
        seen += [e["id"] for e in body["entities"]]
        uri = body.get("nextUri")
    genesys = [s["id"] for s in BUILTIN.values() if s["origin"] == "genesys"]
    assert sorted(seen) == sorted(genesys) and len(pages) == pages[0]["pageCount"] == -(-len(genesys) // 5)
    last = pages[-1]
    assert last["previousUri"] == f"{LIST}?pageSize=5&pageNumber={len(pages) - 1}&origin=GENESYS"
    assert last["firstUri"] == f"{LIST}?pageSize=5&pageNumber=1&origin=GENESYS"
    assert last["lastUri"] == last["selfUri"]


def test_page_past_the_end_is_empty(sandbox: Sandbox) -> None:
    body = sandbox.client.get(LIST, params={"pageSize": 10, "pageNumber": 9}).json()
    assert body["entities"] == [] and body["total"] == len(BUILTIN) and "nextUri" not in body


def listed(sandbox: Sandbox, **params: object) -> list[dict[str, object]]:
    answer = sandbox.client.get(LIST, params={"pageSize": 100, **params})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entities"])


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"name": "QUEUE"}, lambda s: "queue" in s["name"].lower()),
        ({"description": "data action"}, lambda s: "data action" in s["description"].lower()),
        ({"origin": "partner"}, lambda s: s["origin"] == "partner"),
        ({"origin": "Community"}, lambda s: s["origin"] == "community"),
        ({"type": "blueprint"}, lambda s: s["type"] == "blueprint"),
        ({"type": "Accelerator"}, lambda s: s["type"] == "accelerator"),
        ({"classification": "routing"}, lambda s: same(s["classification"], "routing")),
        ({"tags": "salesforce,WFM"}, lambda s: {"Salesforce", "WFM"} & set(s["tags"])),
        ({"tags": ["ivr", "servicenow"]}, lambda s: {"IVR", "ServiceNow"} & set(s["tags"])),
        ({"type": "module", "origin": "community", "name": "e"}, lambda s: s["type"] == "module" and s["origin"] == "community" and "e" in s["name"].lower()),
    ],
)
def test_filters(sandbox: Sandbox, params: dict[str, object], predicate: Callable[[dict[str, object]], object]) -> None:
    expected = sorted(s["id"] for s in BUILTIN.values() if predicate(s))
    assert expected, "the filter must select something"
    assert sorted(str(e["id"]) for e in listed(sandbox, **params)) == expected


def test_filters_are_kept_in_page_uris(sandbox: Sandbox) -> None:
    body = sandbox.client.get(LIST, params=[("pageSize", "1"), ("tags", "Routing"), ("tags", "IVR"), ("name", " with ")]).json()
    assert body["nextUri"] == f"{LIST}?pageSize=1&pageNumber=2&tags=Routing&tags=IVR&name=+with+"


@pytest.mark.parametrize("sort_by", ["name", "id", "type", "origin", "classification"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorting(sandbox: Sandbox, sort_by: str, order: str) -> None:
    keys = [str(e.get(sort_by) or "").casefold() for e in listed(sandbox, sortBy=sort_by, sortOrder=order)]
    assert keys == sorted(keys, reverse=order == "desc")


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": 0}, {"pageSize": 101}, {"pageSize": "ten"}, {"pageNumber": 0}, {"pageNumber": "1.5"},
        {"origin": "vendor"}, {"type": "plugin"}, {"sortBy": "date"}, {"sortOrder": "up"},
    ],
)
def test_invalid_query_parameters_answer_400(sandbox: Sandbox, params: dict[str, object]) -> None:
    body = assert_genesys_error(sandbox.client.get(LIST, params=params), 400, "bad.request")
    assert body["details"] == [{"errorCode": "invalid.value", "fieldName": next(iter(params))}]


def test_get_serves_the_clean_built_in_specs_unchanged_but_for_nulls(sandbox: Sandbox) -> None:
    for name, raw in BUILTIN.items():
        answer = sandbox.client.get(f"{LIST}/{raw['id']}", params={"preferredLanguage": "pt-BR"})
        assert answer.status_code == 200, name
        assert answer.json() == {**without_nulls(raw), "selfUri": f"{LIST}/{raw['id']}"}


def test_get_rejects_unknown_languages_and_ids(sandbox: Sandbox) -> None:
    assert_genesys_error(sandbox.client.get(f"{LIST}/{FAILURE_DEMO_ID}", params={"preferredLanguage": "xx"}), 400, "bad.request")
    missing = str(uuid.uuid4())
    body = assert_genesys_error(sandbox.client.get(f"{LIST}/{missing}"), 404, "resource.not.found")
    assert missing in str(body["message"])


# --- Loading directories ------------------------------------------------------------


def test_all_real_specs_load_and_are_served(real_specs_dir: Path, start_sandbox: Callable[..., Sandbox]) -> None:
    files = sorted(real_specs_dir.glob("*.json"))
    assert len(files) == 62
    box = start_sandbox(catalog_dirs=[real_specs_dir])
    raws = {f.name: json.loads(f.read_text()) for f in files}
    winners = {raw["id"]: raw for raw in raws.values()}  # later file wins, as in the sandbox
    assert len(box.state.catalog) == len(BUILTIN) + len(winners)
    assert sum(1 for _ in listed(box, origin="genesys", type="module")) >= 61
    for accelerator_id, raw in winners.items():
        assert box.client.get(f"{LIST}/{accelerator_id}").json() == {**without_nulls(raw), "selfUri": f"{LIST}/{accelerator_id}"}


def test_duplicate_ids_later_file_wins_with_a_warning(real_specs_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="iac_mcp.sandbox.catalog"):
        catalog = load_catalog([real_specs_dir])
    entry = catalog["2f768a83-160e-42e3-9e9a-b4591b75c910"]
    assert entry.source.name == "public-api-get-user-queues-data-action-module.json"
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "public-api-get-conversationEnd-data-action-module.json" in warning
    assert "public-api-get-user-queues-data-action-module.json" in warning


UNTIDY_PROPERTIES = [
    {"flag": {"type": "boolean", "default": False, "sensitive": True, "x-widget": "toggle"}},
    {"count": {"type": "integer", "default": 3, "enum": [1, 3, 5], "displayName": "Count"}},
    {"blob": {"type": "string", "default": {"nested": [1]}}},
    {"bare": None},
]


def test_the_wire_carries_only_model_keys_and_string_scalars(tmp_path: Path, start_sandbox: Callable[..., Sandbox]) -> None:
    """Spec files may hold JSON scalars and extra keys; the typed API sends neither."""
    raw = {
        **BUILTIN["simple-queue-module.json"],
        "id": str(uuid.uuid4()),
        "futureField": {"x": [1, 2]},
        "classification": None,
        "presentation": [{"title": "Page", "extra": 1, "schema": {"type": "object", "properties": UNTIDY_PROPERTIES, "required": ["count", "unlisted"]}}],
    }
    (tmp_path / "untidy.json").write_text(json.dumps(raw))
    box = start_sandbox(catalog_dirs=[tmp_path], builtin_catalog=False)
    served = box.client.get(f"{LIST}/{raw['id']}").json()
    assert set(served) <= set(SPEC_KEYS) and "futureField" not in served and "classification" not in served
    assert served["presentation"] == [
        {
            "title": "Page",
            "schema": {
                "type": "object",
                "properties": [
                    {"flag": {"type": "boolean", "default": "false", "sensitive": "true"}},
                    {"count": {"type": "integer", "displayname": "Count", "default": "3", "enum": ["1", "3", "5"]}},
                    {"blob": {"type": "string", "default": '{"nested": [1]}'}},
                    {"bare": {}},
                ],
                "required": ["count", "unlisted"],
            },
        }
    ]
    [listed_entry] = listed(box)
    assert set(listed_entry) <= set(METADATA_KEYS) and listed_entry["id"] == raw["id"]


def test_an_old_fields_page_is_served_as_a_schema_of_required_strings(real_specs_dir: Path, tmp_path: Path, start_sandbox: Callable[..., Sandbox]) -> None:
    name = "public-api-get-conversationEnd-data-action-module.json"
    raw = json.loads((real_specs_dir / name).read_text())
    (tmp_path / name).write_text(json.dumps(raw))
    box = start_sandbox(catalog_dirs=[tmp_path], builtin_catalog=False)
    [page] = box.client.get(f"{LIST}/{raw['id']}").json()["presentation"]
    fields = raw["presentation"][0]["fields"]
    assert page == {
        "title": raw["presentation"][0]["title"],
        "schema": {
            "description": raw["presentation"][0]["description"],
            "type": "object",
            "properties": [{field: {"type": "string"}} for field in fields],
            "required": fields,
        },
    }


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"name": "no id"}', '{"id": "x", "tags": 5}'])
def test_malformed_file_fails_naming_it(tmp_path: Path, content: str) -> None:
    (tmp_path / "good.json").write_text(json.dumps(BUILTIN["simple-queue-module.json"]))
    (tmp_path / "broken-spec.json").write_text(content)
    with pytest.raises(CatalogError, match="broken-spec.json"):
        load_catalog([tmp_path])


def test_missing_directory_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="nowhere"):
        load_catalog([tmp_path / "nowhere"])
