-- Misroutes for content editors (``python -m faq unanswered``), next to the misses of 0006.
--
-- Answers given from free text now keep the question in consultations.question (personal
-- data, blanked by /forget like the unanswered ones), so an answer marked "not helpful"
-- (helpful = false) shows what was asked and which topic was given.
CREATE INDEX consultations_not_helpful ON consultations(helpful) WHERE helpful = false;

-- Topics offered as buttons when a question matched only uncertainly (topics: the entry ids,
-- best first, separated by spaces). taken_topic stays NULL until the resident presses one of
-- them: an offer still NULL is a suggestion not taken.
-- A separate table, not consultation rows: the statistics count consultations, and an offer
-- is not one (a pressed suggestion is recorded as a consultation as well, as it always was).
CREATE TABLE consultation_suggestions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id bigint REFERENCES residents(id) ON DELETE SET NULL,
    channel text NOT NULL,
    question text,
    topics text NOT NULL,
    score double precision,
    taken_topic text,
    taken_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX consultation_suggestions_created ON consultation_suggestions(created_at);
CREATE INDEX consultation_suggestions_open ON consultation_suggestions(taken_topic, question);
CREATE INDEX consultation_suggestions_resident ON consultation_suggestions(resident_id);
