"""Everything the bot says first: the outbox and its delivery worker, scheduled jobs.

Only the dependency-free parts are re-exported here (``services`` imports ``enqueue`` from this
package, so the follow-up, deadline and digest modules, which use ``services``, are imported
from their own modules).
"""

from notifications.codec import decode_replies, encode_replies
from notifications.limits import ChatRateLimiter, RateLimits
from notifications.outbox import enqueue
from notifications.quiet import QuietHours
from notifications.worker import OutboxWorker, RetryPolicy, ViberPolicy

__all__ = [
    "ChatRateLimiter",
    "OutboxWorker",
    "QuietHours",
    "RateLimits",
    "RetryPolicy",
    "ViberPolicy",
    "decode_replies",
    "encode_replies",
    "enqueue",
]
