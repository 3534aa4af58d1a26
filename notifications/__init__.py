"""The delivery and scheduling side: the outbox worker and its limits, replies sent after an
update, the scheduler and its jobs (deadlines, follow-ups, digest, maintenance).

Beside ``handlers``, never importing it nor imported by it; what both need (the outbox write,
the request lifecycle, follow-ups and deadlines) is in ``services``. Modules are imported by
their own names: nothing is re-exported here, so importing one part never loads the rest.
"""
