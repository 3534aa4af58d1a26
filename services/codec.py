"""Replies to and from the JSON kept in the outbox (rendered once, when the cause is committed),
and the body of an edit of a message already sent (``encode_edit``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from domain.channel import Sent
from domain.messages import Button, ButtonKind, Location, Photo, Reply


def _reply_to_dict(reply: Reply) -> dict[str, Any]:
    data: dict[str, Any] = {"text": reply.text}
    if reply.title:
        data["title"] = reply.title
    if reply.buttons:
        data["buttons"] = [
            [{"label": b.label, "payload": b.payload, "kind": b.kind.value} for b in row]
            for row in reply.buttons
        ]
    if reply.location:
        data["location"] = [reply.location.latitude, reply.location.longitude]
    if reply.photo:
        data["photo"] = {"ref": reply.photo.ref, "caption": reply.photo.caption}
    if reply.image is not None:
        data["image"] = base64.b64encode(reply.image).decode("ascii")
        data["image_name"] = reply.image_name
    if reply.document is not None:
        data["document"] = base64.b64encode(reply.document).decode("ascii")
        data["document_name"] = reply.document_name
    return data


def _reply_from_dict(data: dict[str, Any]) -> Reply:
    buttons = tuple(
        tuple(Button(b["label"], b["payload"], ButtonKind(b["kind"])) for b in row)
        for row in data.get("buttons", [])
    )
    location = data.get("location")
    photo = data.get("photo")
    image = data.get("image")
    document = data.get("document")
    return Reply(
        text=data["text"],
        title=data.get("title"),
        buttons=buttons,
        location=Location(location[0], location[1]) if location else None,
        photo=Photo(photo["ref"], photo.get("caption")) if photo else None,
        image=base64.b64decode(image) if image else None,
        image_name=data.get("image_name", "image.png"),
        document=base64.b64decode(document) if document else None,
        document_name=data.get("document_name", "file.csv"),
    )


def encode_replies(replies: Sequence[Reply]) -> str:
    return json.dumps([_reply_to_dict(reply) for reply in replies], ensure_ascii=False)


def decode_replies(body: str) -> list[Reply]:
    data = json.loads(body)
    if not isinstance(data, list):
        raise ValueError("an outbox body is a list of replies")
    return [_reply_from_dict(item) for item in data]


def encode_edit(message: Sent, reply: Reply) -> str:
    """The body of an edit: which message (``Sent``: its id, whether it is a caption) becomes
    ``reply``."""
    target = {"message_id": message.message_id, "caption": message.caption}
    return json.dumps({"edit": target, "reply": _reply_to_dict(reply)}, ensure_ascii=False)


def decode_edit(body: str) -> tuple[Sent, Reply]:
    data = json.loads(body)
    if not isinstance(data, dict) or "edit" not in data:
        raise ValueError("an edit body names its message and its reply")
    target = data["edit"]
    message = Sent(str(target["message_id"]), main=True, caption=bool(target.get("caption")))
    return message, _reply_from_dict(data["reply"])
