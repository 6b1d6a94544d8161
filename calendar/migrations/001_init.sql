-- btree_gist lets one GiST index (and the exclusion constraint below) hold
-- both the supplier (equality) and the time range (overlap).
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;

-- Connections: one supplier's calendar at one provider, with its sealed
-- credentials and where its sync stands. seq numbers the sync jobs: a job
-- whose seq is no longer the row's was superseded (SyncNow, a new
-- schedule) and does nothing.
CREATE TABLE {{schema}}.calendar_connections (
    id           text PRIMARY KEY,
    supplier_id  text NOT NULL,
    provider     text NOT NULL,
    calendar     text NOT NULL,
    time_zone    text NOT NULL,
    read_only    boolean NOT NULL DEFAULT false,
    sharing      jsonb NOT NULL,
    credentials  bytea NOT NULL,
    cursor       text NOT NULL DEFAULT '',
    full_at      timestamptz,
    last_success timestamptz,
    last_error   text NOT NULL DEFAULT '',
    failures     int NOT NULL DEFAULT 0,
    next_run     timestamptz,
    seq          bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL
);
CREATE INDEX calendar_connections_supplier ON {{schema}}.calendar_connections (supplier_id);

-- Bookings and holds. blocked is the booked time widened by the buffers;
-- the exclusion constraint is what closes the race between two enquiries
-- for one slot: of two overlapping live bookings of one supplier, the
-- second to commit fails (23P01), whatever the application checked first.
CREATE TABLE {{schema}}.calendar_bookings (
    id          text PRIMARY KEY,
    supplier_id text NOT NULL,
    status      text NOT NULL,
    blocked     tstzrange NOT NULL,
    hold_until  timestamptz,
    version     bigint NOT NULL,
    body        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT calendar_bookings_no_overlap EXCLUDE USING gist (supplier_id WITH =, blocked WITH &&)
        WHERE (status IN ('hold', 'confirmed'))
);
CREATE INDEX calendar_bookings_hold_until ON {{schema}}.calendar_bookings (hold_until) WHERE status = 'hold';

-- Mappings: each provider event the engine knows in a connection's
-- calendar. origin 'wedsync' rows are bookings the engine wrote
-- (booking_id set); origin 'provider' rows are the supplier's own events,
-- whose instances are in calendar_busy.
CREATE TABLE {{schema}}.calendar_mappings (
    connection_id text NOT NULL REFERENCES {{schema}}.calendar_connections (id) ON DELETE CASCADE,
    event_id      text NOT NULL,
    origin        text NOT NULL,
    booking_id    text,
    booking_version bigint NOT NULL DEFAULT 0,
    etag          text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (connection_id, event_id)
);
CREATE UNIQUE INDEX calendar_mappings_booking ON {{schema}}.calendar_mappings (connection_id, booking_id)
    WHERE booking_id IS NOT NULL;

-- Busy blocks: the instances of the supplier's own events, expanded over
-- the horizon. The GiST index on (supplier, span) makes a conflict check a
-- range scan of one supplier's overlapping rows.
CREATE TABLE {{schema}}.calendar_busy (
    connection_id text NOT NULL REFERENCES {{schema}}.calendar_connections (id) ON DELETE CASCADE,
    event_id      text NOT NULL,
    supplier_id   text NOT NULL,
    span          tstzrange NOT NULL,
    summary       text NOT NULL DEFAULT ''
);
CREATE INDEX calendar_busy_event ON {{schema}}.calendar_busy (connection_id, event_id);
CREATE INDEX calendar_busy_span ON {{schema}}.calendar_busy USING gist (supplier_id, span);

-- The attempt log: every provider call. job_id lets a job that runs again
-- after a crash find that its first run already recorded its attempt.
CREATE TABLE {{schema}}.calendar_attempts (
    id            text PRIMARY KEY,
    connection_id text NOT NULL,
    op            text NOT NULL,
    booking_id    text NOT NULL DEFAULT '',
    ok            boolean NOT NULL,
    error         text NOT NULL DEFAULT '',
    duration_ms   double precision NOT NULL,
    at            timestamptz NOT NULL,
    job_id        bigint
);
CREATE INDEX calendar_attempts_connection ON {{schema}}.calendar_attempts (connection_id, at);
CREATE INDEX calendar_attempts_job ON {{schema}}.calendar_attempts (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX calendar_attempts_at ON {{schema}}.calendar_attempts (at);
