"""Domain services shared by every channel: requests (filing, routing, lifecycle) and their cards,
and the operator relay.

Channel-neutral like ``handlers/``: no messenger library is imported here (a test checks it).
"""

from services.relay import RelayClosed, RelayError, RelayNotFound, RelayService
from services.relay_forwarder import RelayDesk, RelayForwarder
from services.request_limits import InvalidDraft, NotAwaitingAnswer, UnknownExecutor
from services.requests import RequestObserver, RequestService
from services.routing import (
    DEFAULT_ROUTING_FILE,
    Executor,
    Route,
    Routing,
    RoutingError,
    ServiceClass,
    load_routing,
)

__all__ = [
    "DEFAULT_ROUTING_FILE",
    "Executor",
    "InvalidDraft",
    "NotAwaitingAnswer",
    "RelayClosed",
    "RelayDesk",
    "RelayError",
    "RelayForwarder",
    "RelayNotFound",
    "RelayService",
    "RequestObserver",
    "RequestService",
    "Route",
    "Routing",
    "RoutingError",
    "ServiceClass",
    "UnknownExecutor",
    "load_routing",
]
