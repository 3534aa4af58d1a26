"""Values and rules every layer shares: identities, the clock; no I/O and no messenger code."""

from domain.clock import Clock, ManualClock, SystemClock
from domain.identity import ChannelName, UserRef

__all__ = ["ChannelName", "Clock", "ManualClock", "SystemClock", "UserRef"]
