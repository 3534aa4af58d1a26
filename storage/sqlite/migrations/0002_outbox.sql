-- What the bot says first: written in the same transaction as its cause, delivered by a worker.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    resident_id INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT,
    sent_ids TEXT
);
CREATE INDEX outbox_due ON outbox(status, not_before);
CREATE INDEX outbox_chat ON outbox(channel, chat_id, status);
