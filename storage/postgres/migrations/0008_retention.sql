-- Retention (RETENTION_DAYS): the daily job finds what has grown old through these indexes,
-- a chunk per short transaction, instead of scanning tables that grow for ever.

-- Outbox messages that still have their body (a removed body is '[]', as after an erasure:
-- storage.privacy.ERASED_BODY). Only the recent messages are in it, so it stays small however
-- many rows the outbox keeps for its counts and idempotency keys.
CREATE INDEX outbox_body_kept ON outbox(created_at) WHERE body <> '[]';

-- Conversation state by when it last changed (idle conversations are forgotten).
CREATE INDEX conversation_states_updated ON conversation_states(updated_at);
