-- Restore drills recorded in the console: who restored which snapshot when, how long it took, and whether the
-- restored data passed its checks. Append-only: a correction is a new record, and each has its audit event.
CREATE TABLE restore_drills (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    environment      TEXT NOT NULL,
    performed_at     TEXT NOT NULL,
    performed_by     TEXT NOT NULL,
    snapshot         TEXT NOT NULL CHECK (snapshot <> ''),
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes >= 0),
    passed           BOOLEAN NOT NULL,
    notes            TEXT NOT NULL,
    recorded_by      TEXT NOT NULL,
    recorded_at      TEXT NOT NULL
);
CREATE INDEX restore_drills_by_environment ON restore_drills (environment, performed_at DESC);
