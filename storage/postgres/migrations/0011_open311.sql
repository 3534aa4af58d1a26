-- The Open311 GeoReport v2 API (bot/open311): keys, the audit log of writes, posted updates.
-- A key is stored as the SHA-256 of its text only; the text is shown once when it is made.
CREATE TABLE api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    scope text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
-- One active key per name (names identify the writer in the audit log).
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at IS NULL;

-- Every write through the API: who (the key's name), when, what (never personal data).
CREATE TABLE api_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_name text NOT NULL,
    at timestamptz NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    status integer NOT NULL,
    subject text NOT NULL
);
CREATE INDEX api_audit_at ON api_audit(at);

-- Updates posted through servicerequestupdates, by the back office's update_id: the same
-- update posted again changes nothing.
CREATE TABLE api_updates (
    update_id text PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    history_id bigint NOT NULL REFERENCES request_history(id) ON DELETE CASCADE,
    key_name text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX api_updates_history ON api_updates(history_id);
