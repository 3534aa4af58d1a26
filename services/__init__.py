"""Domain services shared by the conversation and the delivery side: requests (filing,
routing, lifecycle, announcements) and their cards, follow-ups after "done", deadline
escalations, the operator relay, and the outbox write with its codec.

Below ``handlers`` and ``notifications``, above ``storage``: no messenger library and no
conversation step names here (the layer contracts in pyproject.toml check the imports).
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
