"""The address convention every layer shares: a chat, or a thread inside it (``chat/thread``)."""

from __future__ import annotations

from domain.identity import ChannelName, UserRef

STAFF = UserRef(ChannelName.TELEGRAM, "-100777")


def test_a_thread_inside_a_chat_and_back() -> None:
    topic = STAFF.in_thread(45)
    assert topic == UserRef(ChannelName.TELEGRAM, "-100777/45")
    assert (topic.chat, topic.thread) == (STAFF, "45")
    assert (STAFF.chat, STAFF.thread) == (STAFF, None)
    assert topic.in_thread(46).user_id == "-100777/46"
    assert topic.in_thread(None) == STAFF
    assert UserRef(ChannelName.TELEGRAM, "-100777/").thread is None
