-- Releases (builds CI registered), deployments (one release going to one environment and service, a durable
-- state machine of steps), their approvals and every AWS call the engine made for them.
CREATE TABLE releases (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    service       TEXT NOT NULL,
    version       TEXT NOT NULL CHECK (version <> ''),
    image         TEXT NOT NULL CHECK (image <> ''),
    digest        TEXT,
    commit_sha    TEXT NOT NULL,
    notes         TEXT NOT NULL,
    ticket_url    TEXT,
    change        TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    UNIQUE (service, version)
);
CREATE INDEX releases_by_service ON releases (service, seq DESC);

CREATE TABLE deployments (
    seq                BIGSERIAL PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    environment        TEXT NOT NULL,
    service            TEXT NOT NULL,
    release_id         TEXT NOT NULL REFERENCES releases (id),
    state              TEXT NOT NULL CHECK (state IN ('requested', 'queued', 'snapshot', 'deploying', 'ready',
                           'switching', 'baking', 'retiring', 'rolling_back', 'halted', 'done', 'rolled_back',
                           'failed', 'cancelled', 'rejected')),
    ending             TEXT,
    paused             BOOLEAN NOT NULL DEFAULT FALSE,
    from_colour        TEXT NOT NULL,
    to_colour          TEXT NOT NULL,
    requested_by       TEXT NOT NULL,
    requested_by_name  TEXT NOT NULL,
    requested_at       TIMESTAMPTZ NOT NULL,
    approvals_required INTEGER NOT NULL CHECK (approvals_required >= 0),
    plan               TEXT NOT NULL,
    reason             TEXT,
    outcome            TEXT,
    break_glass        TEXT,
    next_run_at        BIGINT NOT NULL,
    lease_owner        TEXT,
    lease_until        BIGINT,
    lease_epoch        BIGINT NOT NULL DEFAULT 0,
    version            BIGINT NOT NULL DEFAULT 0,
    updated_at         TIMESTAMPTZ NOT NULL,
    finished_at        TIMESTAMPTZ
);
-- One deployment at a time per environment and service, whatever the replicas do.
CREATE UNIQUE INDEX deployments_one_active ON deployments (environment, service)
    WHERE state IN ('snapshot', 'deploying', 'ready', 'switching', 'baking', 'retiring', 'rolling_back', 'halted');
CREATE INDEX deployments_due ON deployments (next_run_at) WHERE state NOT IN ('requested', 'halted', 'done',
    'rolled_back', 'failed', 'cancelled', 'rejected');
CREATE INDEX deployments_by_environment ON deployments (environment, seq DESC);
CREATE INDEX deployments_by_lane ON deployments (environment, service, seq DESC);
CREATE INDEX deployments_by_state ON deployments (state, seq DESC);

CREATE TABLE deployment_steps (
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    seq           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    phase         TEXT NOT NULL CHECK (phase IN ('forward', 'rollback', 'cleanup')),
    params        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before    BIGINT,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    applied_by    TEXT,
    detail        TEXT NOT NULL,
    result        TEXT,
    error         TEXT,
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE deployment_aws_calls (
    id            BIGSERIAL PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    step_seq      INTEGER NOT NULL,
    operation     TEXT NOT NULL,
    request_id    TEXT,
    outcome       TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'unknown')),
    error_code    TEXT,
    at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX deployment_aws_calls_by_deployment ON deployment_aws_calls (deployment_id, id);

CREATE TABLE deployment_approvals (
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    actor         TEXT NOT NULL,
    actor_name    TEXT NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason        TEXT NOT NULL,
    decided_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (deployment_id, actor)
);
