-- What the bot says first, part two: delivery progress, follow-ups, deadline escalations and
-- the Viber bill. The outbox itself is 0002.

-- When the message first became due (not_before moves with retries; this does not): a message
-- that is due or being retried holds back later messages to the same chat (per-chat order).
ALTER TABLE outbox ADD COLUMN due_at TEXT;
-- How many of the message's replies the platform has accepted: a retry or a restart resumes
-- after them, so a message of several replies repeats at most the one that was in flight.
ALTER TABLE outbox ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
-- The per-chat order check looks at a chat's unsent messages only, however long its history.
CREATE INDEX outbox_chat_active ON outbox(channel, chat_id, status, id);
-- A restarted worker reads the last minute's sends to keep within the limits across restarts.
CREATE INDEX outbox_sent_at ON outbox(sent_at) WHERE sent_at IS NOT NULL;

-- "Was it really done?" One row per resolution: a request reopened and done again gets a new
-- row (resolution_at is the done_at it asks about).
CREATE TABLE followups (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    resolution_at TEXT NOT NULL,
    resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    reminded_at TEXT,
    outcome TEXT,
    rating INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    comment TEXT,
    reason TEXT,
    answered_at TEXT,
    reopened_at TEXT,
    UNIQUE (request_id, resolution_at)
);
CREATE INDEX followups_status ON followups(status, asked_at);
CREATE INDEX followups_answered ON followups(answered_at);
CREATE INDEX followups_resident ON followups(resident_id, id);

-- One escalation per missed deadline: (request, ack|resolve, the deadline's value). A new
-- deadline after a reopening is a new row.
CREATE TABLE deadline_escalations (
    request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    deadline TEXT NOT NULL,
    escalated_at TEXT NOT NULL,
    PRIMARY KEY (request_id, kind, deadline)
);

-- Viber bills messages a bot starts outside the 24-hour window a resident opened: counted per
-- month (Europe/Kyiv), with what the VIBER_PROACTIVE_POLICY held back or dropped.
CREATE TABLE viber_billing (
    month TEXT PRIMARY KEY,
    billed INTEGER NOT NULL DEFAULT 0,
    free INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0
);
