-- A time range of the audit trail is found as a range of seq: the first event at or after each end, one probe.
-- Times never go backwards along the chain (the append holds a lagging clock at the last event's time).
DROP INDEX audit_events_by_time;
CREATE INDEX audit_events_by_time ON audit_events (occurred_at, seq);
