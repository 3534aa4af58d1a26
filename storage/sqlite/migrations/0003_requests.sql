-- Requests (заявки), their history and photos.
-- The human-readable number (1520-000123) is derived from requests.id, so the primary key is the
-- index "by number". AUTOINCREMENT so that a number is never given out twice.
CREATE TABLE requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id INTEGER NOT NULL REFERENCES residents(id),
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    category TEXT NOT NULL,
    district TEXT,
    address TEXT,
    latitude REAL,
    longitude REAL,
    description TEXT NOT NULL,
    phone TEXT,
    status TEXT NOT NULL,
    executor_id TEXT NOT NULL,
    service_class TEXT NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0,
    ack_due TEXT NOT NULL,
    resolve_due TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    acknowledged_at TEXT,
    done_at TEXT,
    erased_at TEXT
);
-- A resident's requests, newest first.
CREATE INDEX requests_resident ON requests(resident_id, id);
-- Staff /find by phone.
CREATE INDEX requests_phone ON requests(phone) WHERE phone IS NOT NULL;
-- Deadline jobs: open requests by their acknowledge and resolve deadlines.
CREATE INDEX requests_ack_due ON requests(status, ack_due);
CREATE INDEX requests_resolve_due ON requests(status, resolve_due);
-- Follow-ups after "done".
CREATE INDEX requests_done_at ON requests(status, done_at);
-- Statistics and digests by creation time.
CREATE INDEX requests_created ON requests(created_at);
CREATE INDEX requests_executor ON requests(executor_id, status);

CREATE TABLE request_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT,
    at TEXT NOT NULL
);
CREATE INDEX request_history_request ON request_history(request_id, id);
CREATE INDEX request_history_at ON request_history(at);

CREATE TABLE request_photos (
    request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (request_id, position)
);

