-- Every consultation, for statistics; unanswered questions are kept for content editors.
CREATE TABLE consultations (
    id INTEGER PRIMARY KEY,
    resident_id INTEGER REFERENCES residents(id) ON DELETE SET NULL,
    channel TEXT NOT NULL,
    topic TEXT,
    source TEXT NOT NULL,
    matched INTEGER NOT NULL,
    score REAL,
    question TEXT,
    helpful INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX consultations_created ON consultations(created_at);
CREATE INDEX consultations_unanswered ON consultations(matched, question);
CREATE INDEX consultations_resident ON consultations(resident_id);
