-- Residents, conversation state and processed update keys (SQLite: the same number and name).
CREATE TABLE residents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel text NOT NULL,
    user_id text NOT NULL,
    language text NOT NULL DEFAULT 'uk',
    display_name text,
    consent_personal_data boolean NOT NULL DEFAULT false,
    consent_at timestamptz,
    blocked boolean NOT NULL DEFAULT false,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    UNIQUE (channel, user_id)
);

CREATE TABLE conversation_states (
    resident_id bigint PRIMARY KEY REFERENCES residents(id) ON DELETE CASCADE,
    step text NOT NULL,
    -- JSON text, as on SQLite: read and written whole by the conversation, never queried by key.
    data text NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL
);

CREATE TABLE processed_updates (
    key text PRIMARY KEY,
    processed_at timestamptz NOT NULL
);
CREATE INDEX processed_updates_at ON processed_updates(processed_at);
