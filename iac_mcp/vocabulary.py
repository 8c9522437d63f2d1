"""The names every layer shares with the agent: the tools.

Texts for the agent (descriptions, next steps, errors) name tools through this enum, so a
rename is one edit and a typo is an import error. A `StrEnum` formats as its value.
"""

from __future__ import annotations

from enum import StrEnum


class ToolName(StrEnum):
    LIST_ACCELERATORS = "list-accelerators"
    DESCRIBE_ACCELERATOR = "describe-accelerator"
    SUBMIT_JOB = "submit-job"
    GET_JOB = "get-job"
    LIST_JOBS = "list-jobs"
    PROMOTE_JOB = "promote-job"
