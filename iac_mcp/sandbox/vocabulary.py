"""The API's fixed vocabulary as the sandbox knows it, kept apart from the client's copy.

The sandbox is the client's opponent in tests, so it owns its own list of query values,
job statuses and permissions: a mistake in the client's vocabulary cannot be mirrored here.
"""

from __future__ import annotations

ORIGINS = ("genesys", "partner", "community")
TYPES = ("module", "accelerator", "blueprint")
LANGUAGES = (
    "ar", "cs", "da", "de", "en-US", "es", "fi", "fr", "it", "iw", "ko", "ja",
    "nl", "no", "pl", "pt-BR", "pt-PT", "sv", "th", "tr", "zh-CN", "zh-TW",
)  # fmt: skip
SORT_ORDERS = ("asc", "desc")
ACCELERATOR_SORT_FIELDS = ("name", "id", "type", "origin", "classification")
JOB_SORT_FIELDS = ("id", "dateSubmitted", "submittedBy", "acceleratorId", "status")
HISTORY_STATUS_FILTERS = ("Created", "Queued", "Running", "Complete", "Failed", "Incomplete")
TERMINAL_STATUSES = ("Complete", "Failed", "Incomplete", "InternalError", "RollbackComplete", "RollbackFailed")

VIEW_ACCELERATORS = "infrastructureascode:accelerator:view"
ADD_JOB = "infrastructureascode:job:add"
VIEW_JOBS = "infrastructureascode:job:view"
VIEW_INTEGRATIONS = "integrations:integration:view"


def same(a: str | None, b: str | None) -> bool:
    """Case-insensitive equality, as Genesys compares query values and enum-like fields."""
    return (a or "").casefold() == (b or "").casefold()


def is_terminal(status: str) -> bool:
    return status in TERMINAL_STATUSES
