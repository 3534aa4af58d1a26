-- Every consultation, for statistics; unanswered questions are kept for content editors.
CREATE TABLE consultations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id bigint REFERENCES residents(id) ON DELETE SET NULL,
    channel text NOT NULL,
    topic text,
    source text NOT NULL,
    matched boolean NOT NULL,
    score double precision,
    question text,
    helpful boolean,
    created_at timestamptz NOT NULL
);
CREATE INDEX consultations_created ON consultations(created_at);
CREATE INDEX consultations_unanswered ON consultations(matched, question);
CREATE INDEX consultations_resident ON consultations(resident_id);
