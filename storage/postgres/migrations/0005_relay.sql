-- The operator relay (a resident talking to an operator in the staff chat) and staff-chat prompts.
CREATE TABLE relay_sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resident_id bigint NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'open',
    opened_at timestamptz NOT NULL,
    closed_at timestamptz,
    closed_by text,
    outcome text,
    -- Where the resident's messages go in the staff chat ("telegram:-100123/45" for a forum
    -- topic); NULL until the staff side has resolved it (a topic may need creating first).
    staff_chat text,
    header_sent boolean NOT NULL DEFAULT false,
    request_id bigint
);
-- At most one open conversation per resident, whatever arrives at once.
CREATE UNIQUE INDEX relay_sessions_one_open ON relay_sessions(resident_id) WHERE status = 'open';

CREATE TABLE relay_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES relay_sessions(id) ON DELETE CASCADE,
    direction text NOT NULL,  -- 'in': resident to operators; 'out': operator to resident
    text text,
    photo_ref text,
    author text,  -- the operator's Telegram user id for 'out'
    forwarded boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);
CREATE INDEX relay_messages_pending ON relay_messages(forwarded, direction, session_id);
CREATE INDEX relay_messages_session ON relay_messages(session_id, id);

-- One forum topic per resident and staff chat: the primary key is the guard against two topics
-- created by messages arriving at once.
CREATE TABLE relay_topics (
    staff_chat_id text NOT NULL,
    resident_id bigint NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    thread_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (staff_chat_id, resident_id),
    UNIQUE (staff_chat_id, thread_id)
);

-- Staff-chat messages (plain groups: operators answer by replying to them) -> relay session.
CREATE TABLE relay_staff_messages (
    staff_chat_id text NOT NULL,
    message_id text NOT NULL,
    session_id bigint NOT NULL REFERENCES relay_sessions(id) ON DELETE CASCADE,
    PRIMARY KEY (staff_chat_id, message_id)
);

-- Questions the bot asked an operator (a rejection reason, a question for the resident) and is
-- waiting for: the answer is a reply to the prompt or the operator's next message in the thread.
CREATE TABLE staff_prompts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id text NOT NULL,
    thread_id bigint,
    prompt_message_id text,
    user_id text NOT NULL,
    action text NOT NULL,
    request_id bigint NOT NULL,
    card_chat_id text,
    card_message_id text,
    created_at timestamptz NOT NULL,
    done boolean NOT NULL DEFAULT false
);
CREATE INDEX staff_prompts_reply ON staff_prompts(chat_id, prompt_message_id);
CREATE INDEX staff_prompts_user ON staff_prompts(chat_id, user_id, done);
