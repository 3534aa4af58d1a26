-- Every message that shows a request's card (staff chat, executor chats, the console's staff
-- pane), so a change made anywhere edits all of them (services.card_copies). Written by the
-- delivery worker in the transaction that marks the card's outbox row sent.
--
-- A table of its own rather than reading the outbox's sent rows back: an outbox row's
-- sent_ids list every platform message of the row (a long card's parts, the location, the
-- extra photos) without saying which one carries the card's buttons or whether it is a
-- caption; the request would have to be parsed out of idempotency keys; and the retention
-- run blanks old outbox rows, while a card may be changed months later.
CREATE TABLE card_copies (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    caption INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (channel, chat_id, message_id)
);
CREATE INDEX card_copies_request ON card_copies(request_id);
