"""The approval desk: approval requests for real runs, decisions by signed-in people, the gate.

Under a profile's `signed` or `four-eyes` policy, submit-job asks the desk before a real run
is consented to or sent. The first time, the desk records an approval request for exactly
that plan (org, plan job, accelerator, parameters hash, expiring with the plan token) and
hands back a link to its page; a webhook may announce it. The page (a transport, see
`iac_mcp.transports.approval_pages`) signs people in with Genesys and records their
decisions here. Once the policy is met, the run goes through and its audit records name the
approvers. Nothing a client answers counts: only decisions in the ledger do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from anyio.abc import TaskGroup, TaskStatus
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, ElicitRequest, ElicitRequestURLParams, InputRequiredResult

from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.signin import SignInError, authorize_url, challenge_of, user_for_code
from iac_mcp.ledger import AuditRecord
from iac_mcp.logic.approvals import (
    APPROVE_PERMISSION,
    ApprovalRequest,
    Approver,
    Decision,
    SignedIn,
    Status,
    Verdict,
    binding_problem,
    decision_problem,
    holds,
    requester_identity,
    status,
)
from iac_mcp.logic.plan_token import derive_key

if TYPE_CHECKING:
    from iac_mcp.ledger import Ledger

log = logging.getLogger("iac_mcp.approvals")

APPROVALS_PATH = "/approvals"
CALLBACK_PATH = f"{APPROVALS_PATH}/callback"
PAGES_PURPOSE = "iac-mcp approval pages v1"
VERIFIER_PURPOSE = "iac-mcp approval pkce v1"
WEBHOOK_PURPOSE = "iac-mcp approval webhook v1"
WEBHOOK_SIGNATURE_HEADER = "X-Iac-Mcp-Signature"
WEBHOOK_TIMEOUT = httpx.Timeout(5.0)
SANDBOX_SIGNIN_SUFFIX = "-signin"
"""A sandbox org's public sign-in client is its client id with this suffix (the sandbox's
documented convention, `iac_mcp.sandbox.settings.SIGNIN_SUFFIX`; a test holds them equal)."""
APPROVAL_INPUT_KEY = "iac-mcp/approval"
"""The key of the URL elicitation in an input-required result (2026-07-28)."""


class ApprovalRefused(Exception):
    """A decision or sign-in that cannot be recorded; the message says why and what next."""


@dataclass(frozen=True)
class ApprovalOrg:
    """What the desk needs of an org: where people sign in to it, with which client."""

    key: str
    """The ledger's name for the org."""
    profile: str
    label: str
    policy: str
    config: GenesysConfig
    client_id: str | None
    """The profile's `approval_client_id` (Code/PKCE); None: nobody can sign in, so no run is approved."""
    webhook: str | None = None
    transport: httpx.AsyncBaseTransport | None = None
    """How to reach Genesys (the in-process transport of an embedded sandbox); None: the network."""


@dataclass(frozen=True)
class PlanForApproval:
    """The plan a real run stands on, as submit-job checked it (parameters masked)."""

    plan_job_id: str
    accelerator_id: str
    accelerator_name: str
    parameters_hash: str
    parameters: Mapping[str, str]
    to_add: int
    to_change: int
    to_destroy: int
    resources: Sequence[tuple[str, str]]
    expires_at: float
    """The plan token's expiry (epoch seconds): the approval dies with the plan."""


@dataclass(frozen=True)
class Gate:
    """Where a real run stands: `status.met` lets it through; else `link` is where to approve it."""

    request: ApprovalRequest
    status: Status
    link: str

    @property
    def approvers(self) -> tuple[Approver, ...]:
        return self.status.approvals


PagesListener = Callable[["ApprovalDesk", TaskStatus[str]], Coroutine[Any, Any, None]]
"""Serves the approval pages until cancelled, reporting its base URL through the task status."""


class ApprovalDesk:
    """Approval requests and decisions of one server process (state lives in the ledger).

    Pages reach it by HTTP (mounted on the MCP app) or, for stdio, through a loopback
    listener started the first time a link is needed.
    """

    def __init__(
        self,
        signing_key: bytes,
        *,
        webhook_key: bytes | None = None,
        listener: PagesListener | None = None,
        clock: Callable[[], float] = time.time,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.page_key = derive_key(signing_key, PAGES_PURPOSE)
        self._verifier_key = derive_key(signing_key, VERIFIER_PURPOSE)
        self._webhook_key = webhook_key
        self._listener = listener
        self._webhook_transport = webhook_transport
        self.clock = clock
        self._orgs: Mapping[str, ApprovalOrg] = {}
        self._ledger: Ledger | None = None
        self._tasks: TaskGroup | None = None
        self._listening: str | None = None
        self._listen_lock = anyio.Lock()

    @asynccontextmanager
    async def serving(self, orgs: Sequence[ApprovalOrg], ledger: Ledger) -> AsyncIterator[ApprovalDesk]:
        """Bind the desk to the server's orgs and ledger for the server's lifetime."""
        async with anyio.create_task_group() as tasks:
            self._orgs, self._ledger, self._tasks = {org.key: org for org in orgs}, ledger, tasks
            try:
                yield self
            finally:
                tasks.cancel_scope.cancel()
                self._orgs, self._ledger, self._tasks, self._listening = {}, None, None, None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise ApprovalRefused("The server is starting or stopping: try again in a moment.")
        return self._ledger

    def org(self, key: str) -> ApprovalOrg | None:
        return self._orgs.get(key)

    # --- Links ------------------------------------------------------------------------

    async def base_url(self, request_base: str | None) -> str:
        """Where the pages are: the MCP request's own base over HTTP, else the loopback listener."""
        if request_base is not None:
            return request_base.rstrip("/")
        if self._listener is None or self._tasks is None:
            raise ApprovalRefused("This server has no approval pages (no HTTP transport and no --approval-port listener).")
        async with self._listen_lock:
            if self._listening is None:
                self._listening = await self._tasks.start(self._listener, self)
                log.info("Approval pages listening at %s", self._listening)
        return self._listening

    @staticmethod
    def link(base: str, approval_id: str) -> str:
        return f"{base}{APPROVALS_PATH}/{approval_id}"

    # --- The gate ---------------------------------------------------------------------

    async def gate(self, org: ApprovalOrg, plan: PlanForApproval, *, principal: str, request_base: str | None) -> Gate:
        """The plan's approval request (recorded on first ask) and whether its policy is met.

        Raises `ApprovalRefused` when the request on record does not cover exactly this plan.
        """
        ledger = self.ledger
        request = await ledger.approval_for_plan(org.key, plan.plan_job_id)
        if request is None:
            request = await ledger.open_approval(self._new_request(org, plan, principal))
            fresh = True
        else:
            fresh = False
        problem = binding_problem(
            request,
            org=org.key,
            plan_job_id=plan.plan_job_id,
            accelerator_id=plan.accelerator_id,
            parameters_hash=plan.parameters_hash,
        )
        if problem is not None:
            raise ApprovalRefused(f"Real run refused: {problem}. Nothing was sent. Next: run a new dry run and ask again.")
        current = status(request, await ledger.decisions(request.approval_id), self.clock())
        link = self.link(await self.base_url(request_base), request.approval_id)
        if fresh and org.webhook:
            self._announce(org, request, link)
        return Gate(request, current, link)

    def _new_request(self, org: ApprovalOrg, plan: PlanForApproval, principal: str) -> ApprovalRequest:
        return ApprovalRequest(
            approval_id=secrets.token_urlsafe(18),
            org=org.key,
            profile=org.profile,
            org_label=org.label,
            api_base=org.config.api_base,
            policy=org.policy,
            plan_job_id=plan.plan_job_id,
            accelerator_id=plan.accelerator_id,
            accelerator_name=plan.accelerator_name,
            parameters_hash=plan.parameters_hash,
            parameters=dict(plan.parameters),
            to_add=plan.to_add,
            to_change=plan.to_change,
            to_destroy=plan.to_destroy,
            resources=list(plan.resources),
            requester=principal,
            requester_identity=requester_identity(principal),
            created_at=self.clock(),
            expires_at=plan.expires_at,
        )

    # --- Pages ------------------------------------------------------------------------

    async def lookup(self, approval_id: str) -> tuple[ApprovalRequest, list[Decision], Status] | None:
        request = await self.ledger.approval(approval_id)
        if request is None:
            return None
        decisions = await self.ledger.decisions(approval_id)
        return request, decisions, status(request, decisions, self.clock())

    def verifier(self, state: str) -> str:
        """The PKCE verifier of a sign-in, derived from its state: it never leaves the server
        until the code exchange, and any replica can recompute it."""
        digest = hmac.new(self._verifier_key, state.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")  # 43 characters, RFC 7636's minimum

    def sign_in_url(self, request: ApprovalRequest, *, redirect_uri: str, state: str) -> str:
        org = self._signable(request)
        assert org.client_id is not None
        return authorize_url(
            org.config, org.client_id, redirect_uri=redirect_uri, state=state, challenge=challenge_of(self.verifier(state))
        )

    async def sign_in(self, request: ApprovalRequest, *, code: str, state: str, redirect_uri: str) -> SignedIn:
        """Who signed in, for this request's org, and whether they may decide; the token is gone."""
        org = self._signable(request)
        assert org.client_id is not None
        try:
            user = await user_for_code(
                org.config,
                org.client_id,
                code=code,
                redirect_uri=redirect_uri,
                verifier=self.verifier(state),
                transport=org.transport,
            )
        except SignInError as error:
            raise ApprovalRefused(str(error)) from None
        return SignedIn(Approver(user.id, user.name), org.key, holds(user.policies, APPROVE_PERMISSION))

    def _signable(self, request: ApprovalRequest) -> ApprovalOrg:
        org = self.org(request.org)
        if org is None:
            raise ApprovalRefused(
                f"The org {request.profile} is not served by this server any more: nobody can sign in to it here."
            )
        if org.client_id is None:
            raise ApprovalRefused(
                f"The profile {org.profile} has no approval_client_id, so nobody can sign in to approve its runs. "
                "Next: the operator sets approval_client_id to a Code/PKCE OAuth client of that org."
            )
        return org

    async def decide(self, request: ApprovalRequest, signed_in: SignedIn, verdict: Verdict) -> Status:
        """Record the decision when the rules allow it, with its audit record; raises `ApprovalRefused`."""
        ledger = self.ledger
        now = self.clock()
        problem = decision_problem(request, await ledger.decisions(request.approval_id), signed_in, verdict, now)
        if problem is not None:
            raise ApprovalRefused(problem[0].upper() + problem[1:] + ".")
        if not await ledger.decide(request.approval_id, Decision(signed_in.approver, verdict, now)):
            raise ApprovalRefused(f"{signed_in.approver.describe()} already decided on this run: one decision per person.")
        await ledger.audit(
            AuditRecord(
                kind="approval",
                principal=request.requester,
                org=request.org,
                accelerator_id=request.accelerator_id,
                dry_run=False,
                parameters=dict(request.parameters),
                parameters_hash=request.parameters_hash,
                plan_job_id=request.plan_job_id,
                consent=verdict,
                consent_detail=f"approval {request.approval_id}: {verdict} by {signed_in.approver.describe()}",
                approvers=(signed_in.approver,),
            )
        )
        log.info("Approval %s: %s by %s", request.approval_id, verdict, signed_in.approver.describe())
        return status(request, await ledger.decisions(request.approval_id), self.clock())

    # --- Webhook ----------------------------------------------------------------------

    def _announce(self, org: ApprovalOrg, request: ApprovalRequest, link: str) -> None:
        """Post the request to the profile's webhook in the background; the link is in the result anyway."""
        if self._webhook_key is None:
            log.warning("Profile %s has approval_webhook but IAC_MCP_SIGNING_KEY is unset: nothing was posted.", org.profile)
            return
        assert self._tasks is not None and org.webhook is not None
        self._tasks.start_soon(self._post, org.webhook, webhook_body(request, link))

    async def _post(self, url: str, body: bytes) -> None:
        assert self._webhook_key is not None
        signature = "sha256=" + hmac.new(self._webhook_key, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", WEBHOOK_SIGNATURE_HEADER: signature}
        try:
            async with httpx.AsyncClient(transport=self._webhook_transport, timeout=WEBHOOK_TIMEOUT, trust_env=False) as http:
                answer = await http.post(url, content=body, headers=headers)
            if not answer.is_success:
                log.warning("The approval webhook answered HTTP %d", answer.status_code)
        except httpx.HTTPError as error:
            log.warning("The approval webhook could not be reached (%s)", type(error).__name__)


def webhook_key(secret: str) -> bytes:
    """The webhook's HMAC-SHA256 key: HKDF-SHA256 of IAC_MCP_SIGNING_KEY, info `iac-mcp approval webhook v1`."""
    return derive_key(secret, WEBHOOK_PURPOSE)


def webhook_body(request: ApprovalRequest, link: str) -> bytes:
    """The announcement: the link and the plan's summary (masked parameters, never a secret)."""
    return json.dumps(
        {
            "type": "approval_requested",
            "approval_id": request.approval_id,
            "link": link,
            "org": {"profile": request.profile, "label": request.org_label, "api_base": request.api_base},
            "policy": request.policy,
            "accelerator": {"id": request.accelerator_id, "name": request.accelerator_name},
            "plan": {
                "job_id": request.plan_job_id,
                "to_add": request.to_add,
                "to_change": request.to_change,
                "to_destroy": request.to_destroy,
                "resources": [{"action": a, "address": r} for a, r in request.resources],
            },
            "parameters": dict(request.parameters),
            "requester": request.requester,
            "expires_at": request.expires_at,
        },
        sort_keys=True,
        ensure_ascii=False,
    ).encode()


# --- Delivery to clients that open links (URL-mode elicitation, 2026-07-28) ------------------


class ApprovalLinkNeeded(MCPError):
    """A real run waits for approval, and the client can be asked to open the link.

    Raised by submit-job's consent check (a resolver, which mcp 2.3 lets ask form questions
    only) for a 2026-07-28 client that declares URL-mode elicitation; `deliver_approval_links`
    turns it into an input-required result carrying the link. The client's retry, whatever
    it answers, meets the gate again: opening a link approves nothing. Should it ever escape
    the middleware it is a protocol error, and still nothing is sent.
    """

    def __init__(self, message: str, link: str) -> None:
        super().__init__(INTERNAL_ERROR, message)
        self.link = link


async def deliver_approval_links(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: an `ApprovalLinkNeeded` becomes an input-required result asking the
    client to open the approval page (URL-mode elicitation)."""
    try:
        return await call_next(ctx)
    except ApprovalLinkNeeded as needed:
        url = ElicitRequestURLParams(message=needed.message, url=needed.link)
        return InputRequiredResult(input_requests={APPROVAL_INPUT_KEY: ElicitRequest(params=url)})
