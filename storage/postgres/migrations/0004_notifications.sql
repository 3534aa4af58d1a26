-- What the bot says first, part two: delivery progress, follow-ups, deadline escalations and
-- the Viber bill. The outbox itself is 0002.

-- When the message first became due (not_before moves with retries; this does not): a message
-- that is due or being retried holds back later messages to the same chat (per-chat order).
ALTER TABLE outbox ADD COLUMN due_at timestamptz;
-- How many of the message's replies the platform has accepted: a retry or a restart resumes
-- after them, so a message of several replies repeats at most the one that was in flight.
ALTER TABLE outbox ADD COLUMN parts_sent integer NOT NULL DEFAULT 0;
-- The per-chat order check looks at a chat's unsent messages only, however long its history.
CREATE INDEX outbox_chat_active ON outbox(channel, chat_id, status, id);
-- A restarted worker reads the last minute's sends to keep within the limits across restarts.
CREATE INDEX outbox_sent_at ON outbox(sent_at) WHERE sent_at IS NOT NULL;

-- "Was it really done?" One row per resolution: a request reopened and done again gets a new
-- row (resolution_at is the done_at it asks about).
CREATE TABLE followups (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    resolution_at timestamptz NOT NULL,
    resident_id bigint NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    status text NOT NULL,
    asked_at timestamptz NOT NULL,
    reminded_at timestamptz,
    outcome text,
    rating integer CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    comment text,
    reason text,
    answered_at timestamptz,
    reopened_at timestamptz,
    UNIQUE (request_id, resolution_at)
);
CREATE INDEX followups_status ON followups(status, asked_at);
CREATE INDEX followups_answered ON followups(answered_at);
CREATE INDEX followups_resident ON followups(resident_id, id);

-- One escalation per missed deadline: (request, ack|resolve, the deadline's value). A new
-- deadline after a reopening is a new row.
CREATE TABLE deadline_escalations (
    request_id bigint NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    kind text NOT NULL,
    deadline timestamptz NOT NULL,
    escalated_at timestamptz NOT NULL,
    PRIMARY KEY (request_id, kind, deadline)
);

-- Viber bills messages a bot starts outside the 24-hour window a resident opened: counted per
-- month (Europe/Kyiv), with what the VIBER_PROACTIVE_POLICY held back or dropped.
CREATE TABLE viber_billing (
    month text PRIMARY KEY,
    billed integer NOT NULL DEFAULT 0,
    free integer NOT NULL DEFAULT 0,
    held integer NOT NULL DEFAULT 0,
    dropped integer NOT NULL DEFAULT 0
);
