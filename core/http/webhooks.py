"""``/webhooks/{channel}/{account}``: where providers deliver customers' messages.

:class:`~regiocrm.services.inbound.InboundService` keeps each delivery in its fixed order,
and this answers what it says: no such account (404), the signature missing (401) or wrong
(403), the body malformed (400); otherwise the channel's answer, made only once the
messages are committed in the inbox (with their auto-reply where the channel takes one).
A commit that fails is the request's error, so the provider delivers again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.http.problems import problem, problem_response, problems
from regiocrm.interfaces.channels import ChannelError, WebhookRequest, WebhookResponse
from regiocrm.services.inbound import InboundService, UnknownAccount

router = APIRouter(tags=["webhooks"])


WEBHOOK = "/webhooks/{channel}/{account}"
ANSWERS: dict[int | str, Any] = {
    200: {
        "description": "The provider's answer, in the form its channel takes (an echoed"
        " challenge, `success`, a passive reply, or nothing).",
        "content": {"text/plain": {}, "application/xml": {}, "application/json": {}},
    },
    400: problem_response("The body is malformed or hostile; nothing is stored."),
    401: problem_response("The provider's signature is missing."),
    403: problem_response("The signature is wrong or stale."),
    404: problem_response("No account of that name on that channel."),
    **problems(413, 422),
}


@router.get(WEBHOOK, response_class=Response, responses=ANSWERS)
async def verify_webhook(channel: str, account: str, request: Request, app: AppDep) -> Response:
    """The provider's URL verification for one channel account (WeChat's echostr,
    WhatsApp's hub.challenge)."""
    return await _answer(request, partial(InboundService(app).handshake, channel, account))


@router.post(WEBHOOK, response_class=Response, responses=ANSWERS)
async def deliver_webhook(channel: str, account: str, request: Request, app: AppDep) -> Response:
    """A provider's delivery of messages and events for one channel account."""
    return await _answer(request, partial(InboundService(app).deliver, channel, account))


async def _answer(request: Request, step: Callable[[WebhookRequest], WebhookResponse]) -> Response:
    webhook_request = WebhookRequest(
        method=request.method,
        url=str(request.url),
        query=dict(request.query_params),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await request.body(),
        received_at=datetime.now(UTC),
    )
    try:
        # Storing waits on the database: off the event loop, which keeps answering others.
        answer = await run_in_threadpool(step, webhook_request)
    except UnknownAccount as exc:
        return problem(status.HTTP_404_NOT_FOUND, str(exc), instance=request.url.path)
    except ChannelError as exc:
        return problem(exc.status, str(exc) or type(exc).__name__, instance=request.url.path)
    return Response(answer.body, answer.status, media_type=answer.media_type)


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
