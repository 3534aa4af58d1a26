-- What the bot says first: written in the same transaction as its cause, delivered by a worker.
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Byte order (COLLATE "C"): keys are opaque, and erasure finds "req:<id>:" by a range.
    idempotency_key text COLLATE "C" NOT NULL UNIQUE,
    channel text NOT NULL,
    chat_id text NOT NULL,
    resident_id bigint REFERENCES residents(id) ON DELETE SET NULL,
    kind text NOT NULL,
    -- The replies as JSON text ('[]' once erased or expired: storage.privacy.ERASED_BODY).
    body text NOT NULL,
    urgent boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at timestamptz,
    last_error text,
    -- The platform's message ids as a JSON array (text, as on SQLite).
    sent_ids text
);
CREATE INDEX outbox_due ON outbox(status, not_before);
CREATE INDEX outbox_chat ON outbox(channel, chat_id, status);
