"""``/webhooks/{channel}/{account}``: where providers deliver customers' messages.

The order is fixed, so that nothing unverified is ever parsed or stored and nothing stored
is ever lost: the account is looked up (404), the raw body's signature is checked (401/403),
the body is parsed (400), every message is stored in the inbox with its auto-reply (a
redelivery finds its row and its reply; a signature that leaves the body out is recorded
with it, and refused with another body), the provider is answered (with that reply where
it takes one), and only then does the
inbox worker resolve the sender, write the timeline and call the event hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from regiocrm.crm.campaigns import record_receipts
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import services
from regiocrm.http.problems import problem, problem_response, problems
from regiocrm.interfaces.channels import (
    BodylessSignature,
    Channel,
    ChannelAccount,
    ChannelError,
    InboundMessage,
    Receipt,
    Reply,
    WebhookRequest,
    WebhookResponse,
)
from regiocrm.messaging.inbox import Stored, remember_signature, storable, store
from regiocrm.models.base import utcnow
from regiocrm.services.application import Application

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
async def verify_webhook(channel: str, account: str, request: Request) -> Response:
    """The provider's URL verification for one channel account (WeChat's echostr,
    WhatsApp's hub.challenge)."""
    return await _answer(channel, account, request, _handshake)


@router.post(WEBHOOK, response_class=Response, responses=ANSWERS)
async def deliver_webhook(channel: str, account: str, request: Request) -> Response:
    """A provider's delivery of messages and events for one channel account."""
    return await _answer(channel, account, request, _deliver)


Step = Callable[[Application, Channel, ChannelAccount, WebhookRequest], Awaitable[WebhookResponse]]


async def _answer(channel: str, account: str, request: Request, step: Step) -> Response:
    svc = services(request)
    found = svc.channels.account(channel, account)
    if found is None:
        return problem(
            status.HTTP_404_NOT_FOUND,
            f"no {channel} account named {account!r}",
            instance=request.url.path,
        )
    handler, channel_account = found
    webhook_request = WebhookRequest(
        method=request.method,
        url=str(request.url),
        query=dict(request.query_params),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await request.body(),
        received_at=utcnow(),
    )
    try:
        answer = await step(svc, handler, channel_account, webhook_request)
    except ChannelError as exc:
        return problem(exc.status, str(exc) or type(exc).__name__, instance=request.url.path)
    return Response(answer.body, answer.status, media_type=answer.media_type)


async def _handshake(
    svc: Application, channel: Channel, account: ChannelAccount, request: WebhookRequest
) -> WebhookResponse:
    return channel.handshake(account, request)


async def _deliver(
    svc: Application, channel: Channel, account: ChannelAccount, request: WebhookRequest
) -> WebhookResponse:
    channel.verify(account, request)
    signature = channel.bodyless_signature(account, request)
    messages = channel.parse(account, request)
    receipts = channel.receipts(account, request)
    stored = await run_in_threadpool(
        _store, svc, channel, account, request, signature, messages, receipts
    )
    answer = channel.respond(account, request, messages, _passive_replies(channel, stored))
    svc.inbox.submit([s.inbox for s in stored if s.inbox is not None])
    return answer


def _store(
    svc: Application,
    channel: Channel,
    account: ChannelAccount,
    request: WebhookRequest,
    signature: BodylessSignature | None,
    messages: list[InboundMessage],
    receipts: list[Receipt],
) -> list[Stored]:
    """The messages kept with their auto-replies, and the delivery receipts applied to
    campaign members, in one transaction with the record of a signature that leaves the
    body out."""
    with svc.stores.session() as session:
        if signature is not None:
            remember_signature(session, account, signature, request.body)
        stored = store(session, account, messages, hooks=svc.hooks, channel=channel)
        record_receipts(session, [storable(receipt) for receipt in receipts])
        return stored


def _passive_replies(channel: Channel, stored: list[Stored]) -> list[Reply]:
    """The replies kept with the messages, where the channel takes them in the answer."""
    if not channel.replies_in_response:
        return []
    return [Reply(s.message, s.reply) for s in stored if s.reply is not None]


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
