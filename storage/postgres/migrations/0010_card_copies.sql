-- Every message that shows a request's card (staff chat, executor chats, the console's staff
-- pane), so a change made anywhere edits all of them (services.card_copies). Written by the
-- delivery worker in the transaction that marks the card's outbox row sent. Why a table of its
-- own and not the outbox's sent rows: see storage/sqlite/migrations/0010_card_copies.sql.
CREATE TABLE card_copies (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    channel text NOT NULL,
    chat_id text NOT NULL,
    message_id text NOT NULL,
    caption boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    UNIQUE (channel, chat_id, message_id)
);
CREATE INDEX card_copies_request ON card_copies(request_id);
