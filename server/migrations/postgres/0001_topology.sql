-- What the shared collector last read from AWS per environment, so a restart (or another replica) can show the
-- last known state while AWS is unreachable.
CREATE TABLE topology_snapshots (
    environment TEXT PRIMARY KEY NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL,
    payload     TEXT NOT NULL
);

-- Changes the collector saw happen between two reads (the live colour moved, a task definition changed), whoever
-- made them: the seed of drift detection.
CREATE TABLE topology_changes (
    id          BIGSERIAL PRIMARY KEY,
    environment TEXT NOT NULL,
    service     TEXT NOT NULL,
    field       TEXT NOT NULL CHECK (field <> ''),
    before      TEXT,
    after       TEXT,
    observed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX topology_changes_by_environment ON topology_changes (environment, id DESC);
