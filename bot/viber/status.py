"""Viber REST API status codes with their documented names, and what each means for a retry."""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = ["Outcome", "ViberStatus", "outcome_of", "status_name"]


class ViberStatus(IntEnum):
    """The ``status`` field of every Viber REST answer (HTTP 200 even when it is an error)."""

    OK = 0
    INVALID_URL = 1
    INVALID_AUTH_TOKEN = 2
    BAD_DATA = 3
    MISSING_DATA = 4
    RECEIVER_NOT_REGISTERED = 5
    RECEIVER_NOT_SUBSCRIBED = 6
    PUBLIC_ACCOUNT_BLOCKED = 7
    PUBLIC_ACCOUNT_NOT_FOUND = 8
    PUBLIC_ACCOUNT_SUSPENDED = 9
    WEBHOOK_NOT_SET = 10
    RECEIVER_NO_SUITABLE_DEVICE = 11
    TOO_MANY_REQUESTS = 12
    API_VERSION_NOT_SUPPORTED = 13
    INCOMPATIBLE_WITH_VERSION = 14


# Viber's documentation names the codes in camelCase; logs and errors use these names.
_DOCUMENTED_NAMES: dict[ViberStatus, str] = {
    ViberStatus.OK: "ok",
    ViberStatus.INVALID_URL: "invalidUrl",
    ViberStatus.INVALID_AUTH_TOKEN: "invalidAuthToken",
    ViberStatus.BAD_DATA: "badData",
    ViberStatus.MISSING_DATA: "missingData",
    ViberStatus.RECEIVER_NOT_REGISTERED: "receiverNotRegistered",
    ViberStatus.RECEIVER_NOT_SUBSCRIBED: "receiverNotSubscribed",
    ViberStatus.PUBLIC_ACCOUNT_BLOCKED: "publicAccountBlocked",
    ViberStatus.PUBLIC_ACCOUNT_NOT_FOUND: "publicAccountNotFound",
    ViberStatus.PUBLIC_ACCOUNT_SUSPENDED: "publicAccountSuspended",
    ViberStatus.WEBHOOK_NOT_SET: "webhookNotSet",
    ViberStatus.RECEIVER_NO_SUITABLE_DEVICE: "receiverNoSuitableDevice",
    ViberStatus.TOO_MANY_REQUESTS: "tooManyRequests",
    ViberStatus.API_VERSION_NOT_SUPPORTED: "apiVersionNotSupported",
    ViberStatus.INCOMPATIBLE_WITH_VERSION: "incompatibleWithVersion",
}


class Outcome(Enum):
    """How the client reacts to a status: which ``domain.channel`` error it becomes."""

    OK = "ok"
    RETRY_AFTER = "retry_after"
    RECIPIENT_BLOCKED = "recipient_blocked"
    PERMANENT = "permanent"


_OUTCOMES: dict[ViberStatus, Outcome] = {
    ViberStatus.OK: Outcome.OK,
    ViberStatus.TOO_MANY_REQUESTS: Outcome.RETRY_AFTER,
    ViberStatus.RECEIVER_NOT_REGISTERED: Outcome.RECIPIENT_BLOCKED,
    ViberStatus.RECEIVER_NOT_SUBSCRIBED: Outcome.RECIPIENT_BLOCKED,
}


def status_name(status: int) -> str:
    """Viber's documented name for ``status``; codes it does not list are a "generalError"."""
    try:
        return _DOCUMENTED_NAMES[ViberStatus(status)]
    except ValueError:
        return "generalError"


def outcome_of(status: int) -> Outcome:
    """What ``status`` means for the caller; every unlisted non-zero code is permanent."""
    try:
        return _OUTCOMES.get(ViberStatus(status), Outcome.PERMANENT)
    except ValueError:
        return Outcome.PERMANENT
