-- Records: each shared record as this side holds it, field by field with
-- the HLC reading of each field's last write (LWW), and the tombstone.
-- supplier_id scopes the supplier side's records (each supplier's own view
-- of its couples); it is '' on WedMe.
CREATE TABLE {{schema}}.wedmesync_records (
    supplier_id text NOT NULL,
    couple_id   text NOT NULL,
    type        text NOT NULL,
    id          text NOT NULL,
    fields      jsonb NOT NULL,
    deleted     text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (supplier_id, couple_id, type, id)
);

-- The change log: this side's own changes, in commit order (seq), which the
-- other side pushes from or pulls after a cursor.
CREATE TABLE {{schema}}.wedmesync_log (
    seq       bigserial PRIMARY KEY,
    change_id text NOT NULL UNIQUE,
    couple_id text NOT NULL,
    body      jsonb NOT NULL,
    at        timestamptz NOT NULL
);

-- Every change applied here, by id: applying one twice is a no-op.
CREATE TABLE {{schema}}.wedmesync_applied (
    change_id  text PRIMARY KEY,
    applied_at timestamptz NOT NULL
);
CREATE INDEX wedmesync_applied_at ON {{schema}}.wedmesync_applied (applied_at);

-- Changes not applied, with the reason; a person lists, fixes and replays.
CREATE TABLE {{schema}}.wedmesync_quarantine (
    change_id text PRIMARY KEY,
    id        text NOT NULL,
    from_side text NOT NULL,
    body      jsonb NOT NULL,
    reason    text NOT NULL,
    at        timestamptz NOT NULL
);

-- Manual fields two sides wrote differently: kept, and the other value.
CREATE TABLE {{schema}}.wedmesync_conflicts (
    id        text PRIMARY KEY,
    change_id text NOT NULL,
    body      jsonb NOT NULL,
    at        timestamptz NOT NULL,
    resolved  boolean NOT NULL DEFAULT false
);

-- Cursors of each peer: how far this side pushed its log and pulled the
-- other's.
CREATE TABLE {{schema}}.wedmesync_cursors (
    peer        text PRIMARY KEY,
    push_cursor text NOT NULL DEFAULT '',
    pull_cursor text NOT NULL DEFAULT '',
    last_ok     timestamptz
);

-- The audit log: every change received and what became of it.
CREATE TABLE {{schema}}.wedmesync_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    change_id text NOT NULL,
    outcome   text NOT NULL,
    detail    text NOT NULL DEFAULT ''
);
CREATE INDEX wedmesync_audit_at ON {{schema}}.wedmesync_audit (at);
