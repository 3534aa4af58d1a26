-- The Open311 GeoReport v2 API (bot/open311): keys, the audit log of writes, posted updates.
-- A key is stored as the SHA-256 of its text only; the text is shown once when it is made.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
-- One active key per name (names identify the writer in the audit log).
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(name) WHERE revoked_at IS NULL;

-- Every write through the API: who (the key's name), when, what (never personal data).
CREATE TABLE api_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_name TEXT NOT NULL,
    at TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    subject TEXT NOT NULL
);
CREATE INDEX api_audit_at ON api_audit(at);

-- Updates posted through servicerequestupdates, by the back office's update_id: the same
-- update posted again changes nothing.
CREATE TABLE api_updates (
    update_id TEXT PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    history_id INTEGER NOT NULL REFERENCES request_history(id) ON DELETE CASCADE,
    key_name TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX api_updates_history ON api_updates(history_id);
