-- The operator relay (a resident talking to an operator in the staff chat) and staff-chat prompts.
CREATE TABLE relay_sessions (
    id INTEGER PRIMARY KEY,
    resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'open',
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT,
    outcome TEXT,
    -- Where the resident's messages go in the staff chat ("telegram:-100123/45" for a forum
    -- topic); NULL until the staff side has resolved it (a topic may need creating first).
    staff_chat TEXT,
    header_sent INTEGER NOT NULL DEFAULT 0,
    request_id INTEGER
);
-- At most one open conversation per resident, whatever arrives at once.
CREATE UNIQUE INDEX relay_sessions_one_open ON relay_sessions(resident_id) WHERE status = 'open';

CREATE TABLE relay_messages (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES relay_sessions(id) ON DELETE CASCADE,
    direction TEXT NOT NULL,  -- 'in': resident to operators; 'out': operator to resident
    text TEXT,
    photo_ref TEXT,
    author TEXT,  -- the operator's Telegram user id for 'out'
    forwarded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX relay_messages_pending ON relay_messages(forwarded, direction, session_id);
CREATE INDEX relay_messages_session ON relay_messages(session_id, id);

-- One forum topic per resident and staff chat: the primary key is the guard against two topics
-- created by messages arriving at once.
CREATE TABLE relay_topics (
    staff_chat_id TEXT NOT NULL,
    resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    thread_id INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (staff_chat_id, resident_id),
    UNIQUE (staff_chat_id, thread_id)
);

-- Staff-chat messages (plain groups: operators answer by replying to them) -> relay session.
CREATE TABLE relay_staff_messages (
    staff_chat_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    session_id INTEGER NOT NULL REFERENCES relay_sessions(id) ON DELETE CASCADE,
    PRIMARY KEY (staff_chat_id, message_id)
);

-- Questions the bot asked an operator (a rejection reason, a question for the resident) and is
-- waiting for: the answer is a reply to the prompt or the operator's next message in the thread.
CREATE TABLE staff_prompts (
    id INTEGER PRIMARY KEY,
    chat_id TEXT NOT NULL,
    thread_id INTEGER,
    prompt_message_id TEXT,
    user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    request_id INTEGER NOT NULL,
    card_chat_id TEXT,
    card_message_id TEXT,
    created_at TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX staff_prompts_reply ON staff_prompts(chat_id, prompt_message_id);
CREATE INDEX staff_prompts_user ON staff_prompts(chat_id, user_id, done);
