"""Values and rules every layer shares: identities, the clock, requests; no I/O and no messenger
code."""

from domain.clock import Clock, ManualClock, SystemClock
from domain.identity import ChannelName, UserRef
from domain.requests import (
    Actor,
    ActorKind,
    Category,
    District,
    EventKind,
    InvalidPhone,
    InvalidTransition,
    MissingNote,
    Request,
    RequestDraft,
    RequestError,
    RequestNotFound,
    Status,
    StatusChange,
)

__all__ = [
    "Actor",
    "ActorKind",
    "Category",
    "ChannelName",
    "Clock",
    "District",
    "EventKind",
    "InvalidPhone",
    "InvalidTransition",
    "ManualClock",
    "MissingNote",
    "Request",
    "RequestDraft",
    "RequestError",
    "RequestNotFound",
    "Status",
    "StatusChange",
    "SystemClock",
    "UserRef",
]
