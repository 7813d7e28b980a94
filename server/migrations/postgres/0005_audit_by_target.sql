-- A deployment's page lists the audit events about it: read by target, newest first.
CREATE INDEX audit_events_by_target ON audit_events (target, seq);
