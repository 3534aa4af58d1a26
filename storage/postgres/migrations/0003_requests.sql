-- Requests (заявки), their history and photos.
-- The human-readable number (1520-000123) is derived from requests.id, so the primary key is the
-- index "by number". An identity never gives a number out twice.
CREATE TABLE requests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id bigint NOT NULL REFERENCES residents(id),
    channel text NOT NULL,
    chat_id text NOT NULL,
    category text NOT NULL,
    district text,
    address text,
    latitude double precision,
    longitude double precision,
    description text NOT NULL,
    phone text,
    status text NOT NULL,
    executor_id text NOT NULL,
    service_class text NOT NULL,
    urgent boolean NOT NULL DEFAULT false,
    ack_due timestamptz NOT NULL,
    resolve_due timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    acknowledged_at timestamptz,
    done_at timestamptz,
    erased_at timestamptz
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
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    event text NOT NULL,
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    actor_name text,
    from_status text,
    to_status text NOT NULL,
    note text,
    at timestamptz NOT NULL
);
CREATE INDEX request_history_request ON request_history(request_id, id);
CREATE INDEX request_history_at ON request_history(at);

CREATE TABLE request_photos (
    request_id bigint NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    position integer NOT NULL,
    ref text NOT NULL,
    PRIMARY KEY (request_id, position)
);
