-- Outbox leases (issue 14): a message being sent belongs to the process that claimed it
-- (lease_owner, new for every process) until lease_until (UTC ISO 8601 text, like every time
-- here). The process renews the lease while it sends; a lease that ran out (its process died)
-- puts the message back for another worker. A restart no longer takes back every SENDING row,
-- which with several processes would send another's messages in flight a second time.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
CREATE INDEX outbox_leases ON outbox(lease_until) WHERE status = 'sending';
