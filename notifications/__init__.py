"""Everything the bot says first: the outbox and its delivery worker, scheduled jobs."""

from notifications.codec import decode_replies, encode_replies
from notifications.outbox import enqueue

__all__ = ["decode_replies", "encode_replies", "enqueue"]
