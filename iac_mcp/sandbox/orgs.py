"""What each org owns that has an id: its integrations, users, division and roles.

Every id is a GUID derived from the org's name (uuid5), so two orgs never share an
object id, and the same org has the same ids on every start: a demo that promotes a
change from dev to prod can be replayed, with prod's integration id typed in by hand.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iac_mcp.sandbox.settings import SandboxUser
from iac_mcp.sandbox.spec import Parameter

INTEGRATIONS_PATH = "/api/v2/integrations"
_OBJECT_NAMESPACE = uuid.UUID("3f1d2c4b-6a5e-4f70-9b8c-1d2e3f4a5b6c")
_CLIENT_USER_NAMESPACE = uuid.UUID("7d0c4a8e-2b6f-4c1a-8e3d-9f5b1a2c3d4e")
HOME_DIVISION = "Home"
INTEGRATION_TYPES = (
    ("purecloud-data-actions", "Genesys Cloud Data Actions"),
    ("custom-rest-actions", "Web Services Data Actions"),
    ("aws-lambda-data-actions", "AWS Lambda Data Actions"),
)
"""(integration type id, name): each org has one integration of each, named after its type."""
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INTEGRATION_ID = re.compile(r"(.+_)?integration_id")


def org_guid(org: str, kind: str, key: str) -> str:
    """The id of the `kind` object called `key` in `org`: stable, and different in every org."""
    return str(uuid.uuid5(_OBJECT_NAMESPACE, f"{kind}\x00{org}\x00{key}"))


def client_user_id(client_id: str) -> str:
    """The user id Genesys reports as `submittedBy` for jobs of a client-credentials token."""
    return str(uuid.uuid5(_CLIENT_USER_NAMESPACE, client_id))


@dataclass(frozen=True)
class Integration:
    """One installed integration of an org."""

    id: str
    name: str
    type_id: str
    type_name: str

    def wire(self) -> dict[str, object]:
        """As `GET /api/v2/integrations` lists it."""
        return {
            "id": self.id,
            "name": self.name,
            "integrationType": {
                "id": self.type_id,
                "name": self.type_name,
                "selfUri": f"{INTEGRATIONS_PATH}/types/{self.type_id}",
            },
            "notes": "",
            "intendedState": "ENABLED",
            "reportedState": {"code": "ACTIVE", "effective": "Active"},
            "selfUri": f"{INTEGRATIONS_PATH}/{self.id}",
        }


def integrations(org: str) -> tuple[Integration, ...]:
    """The org's integrations, sorted by name as Genesys lists them."""
    found = [Integration(org_guid(org, "integration", name), name, type_id, name) for type_id, name in INTEGRATION_TYPES]
    return tuple(sorted(found, key=lambda i: i.name.casefold()))


@dataclass(frozen=True)
class MissingObject:
    """A parameter that refers to an object the org does not have."""

    parameter: str
    kind: str
    id: str
    sensitive: bool

    def detail(self) -> str:
        """The provider's API error, quoting the id unless the parameter is sensitive."""
        shown = "(sensitive value)" if self.sensitive else self.id
        return f"API Error: 404 - Unable to find {self.kind} with id {shown} (from var.{self.parameter}) in this org."


def missing_objects(org: str, form: Sequence[Parameter], values: Mapping[str, str]) -> tuple[MissingObject, ...]:
    """GUID-shaped values of integration-id parameters that name no integration of `org`.

    Only GUIDs are references: free-text placeholders (`premium-integration-id`) are left to
    plan as given, since the sandbox cannot tell them from objects it does not model.
    """
    known = {i.id.casefold() for i in integrations(org)}
    sensitive = {p.name for p in form if p.sensitive}
    return tuple(
        MissingObject(name, "integration", value, name in sensitive)
        for name, value in values.items()
        if _INTEGRATION_ID.fullmatch(name) and GUID.fullmatch(value.strip()) and value.strip().casefold() not in known
    )


def user_id(user: SandboxUser) -> str:
    return org_guid(user.org, "user", user.username)


def division(org: str) -> dict[str, str]:
    division_id = org_guid(org, "division", HOME_DIVISION)
    return {"id": division_id, "name": HOME_DIVISION, "selfUri": f"/api/v2/authorization/divisions/{division_id}"}


def user_wire(user: SandboxUser) -> dict[str, object]:
    """`GET /api/v2/users/me`. [diff] Genesys usernames are email addresses; here the login name."""
    uid = user_id(user)
    return {
        "id": uid,
        "name": user.name,
        "division": division(user.org),
        "email": f"{user.username}@{user.org}.sandbox.example",
        "state": "active",
        "username": user.username,
        "version": 1,
        "acdAutoAnswer": False,
        "selfUri": f"/api/v2/users/{uid}",
    }


def policies(permissions: frozenset[str]) -> list[dict[str, object]]:
    """Permissions as role policies: `a:b:c` is domain `a`, entityName `b`, action `c`."""
    grouped: dict[tuple[str, str], set[str]] = {}
    for permission in permissions:
        domain, entity, action = permission.split(":")
        grouped.setdefault((domain, entity), set()).add(action)
    return [
        {"domain": domain, "entityName": entity, "actions": sorted(actions)}
        for (domain, entity), actions in sorted(grouped.items())
    ]


def subject_wire(user: SandboxUser) -> dict[str, object]:
    """`GET /api/v2/authorization/subjects/me`: one role in the Home division (none without permissions)."""
    uid = user_id(user)
    role_id = org_guid(user.org, "role", user.username)
    role = {
        "id": role_id,
        "name": f"Sandbox role of {user.username}",
        "policies": policies(user.permissions),
        "selfUri": f"/api/v2/authorization/roles/{role_id}",
    }
    grants = [{"subjectId": uid, "division": division(user.org), "role": role}] if user.permissions else []
    return {"id": uid, "name": user.name, "grants": grants, "version": 1, "selfUri": f"/api/v2/authorization/subjects/{uid}"}
