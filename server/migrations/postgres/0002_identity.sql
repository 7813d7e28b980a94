-- The audit trail: append-only and hash-chained. `seq` is assigned by the writer (previous + 1) while it holds the
-- chain lock, so a gap shows a deleted event; `hash` is SHA-256 over the event's canonical form including
-- `prev_hash`. `occurred_at` is text: the exact string that was hashed.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    authority   TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action <> ''),
    target      TEXT NOT NULL,
    environment TEXT,
    parameters  TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    reason      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_environment ON audit_events (environment, seq);
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);

-- API tokens for CI. Only a SHA-256 of the secret is kept (the secret is 256 random bits, so a fast hash is
-- enough); the secret is shown once at creation.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    revoked_by   TEXT
);
