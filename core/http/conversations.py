"""``/api/conversations``: the agents' inbox across every channel, newest first; a
conversation read, taken, handed on or let go.

Every conversation listed or shown is written to the audit trail with its reader. One the
caller does not see is answered as one that does not exist (404).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm.conversations import ConversationError, UnknownConversation
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.paging import PAGE_DEFAULT, Limit
from regiocrm.http.problems import problems
from regiocrm.services.conversations import Assignee, ConversationService

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

CHANNEL = r"^[a-z][a-z0-9_]{0,39}$"


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: uuid.UUID | None = Field(
        default=None,
        description="the user to hand it to, who must see its customer; `null`: nobody."
        " Left out: the caller takes it.",
    )


@router.get("", responses=problems(400, 401, 403, 422, 503))
def list_conversations(
    caller: CallerDep,
    app: AppDep,
    unread: Annotated[bool, Query(description="only those with unread messages")] = False,
    mine: Annotated[bool, Query(description="only those the caller handles")] = False,
    unassigned: Annotated[bool, Query(description="only those nobody handles")] = False,
    channel: Annotated[str | None, Query(pattern=CHANNEL, examples=["wechat"])] = None,
    after: Annotated[
        str | None, Query(max_length=200, description="the `next` of the page before")
    ] = None,
    limit: Limit = PAGE_DEFAULT,
) -> dict[str, Any]:
    """Conversations the caller sees on every channel, the newest message first. ``mine``
    and ``unassigned`` exclude each other (400)."""
    try:
        page = ConversationService(app).inbox(
            caller,
            unread_only=unread,
            mine=mine,
            unassigned=unassigned,
            channel=channel,
            after=after,
            limit=limit,
        )
    except ConversationError as exc:
        # A cursor this API did not give (BadCursor), or filters that exclude each other.
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    return {"items": [item.as_json() for item in page.items], "next": page.next}


@router.get("/{conversation_id}", responses=problems(401, 403, 404, 422, 503))
def get_conversation(conversation_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """One conversation, with its customer (the survivor of a merged record)."""
    try:
        return ConversationService(app).get(caller, conversation_id).as_json()
    except UnknownConversation as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.post("/{conversation_id}/read", responses=problems(401, 403, 404, 413, 422, 503))
def mark_read(conversation_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """The caller read the conversation: nothing in it is unread any more."""
    try:
        return ConversationService(app).mark_read(caller, conversation_id).as_json()
    except UnknownConversation as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.post("/{conversation_id}/assign", responses=problems(400, 401, 403, 404, 413, 422, 503))
def assign(
    conversation_id: uuid.UUID, body: AssignIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Take a conversation (``{}``), hand it to a user who sees its customer, or let it go
    (``{"assignee_id": null}``); 422 for a user who may not have it, and nothing changes."""
    user_id = body.assignee_id if "assignee_id" in body.model_fields_set else Assignee.CALLER
    try:
        return ConversationService(app).assign(caller, conversation_id, user_id).as_json()
    except UnknownConversation as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except ConversationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
