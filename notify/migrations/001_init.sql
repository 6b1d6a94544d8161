-- Notifications: one row per Send, with what routing needs (the recipient's
-- contact details as the host gave them, and the template data). The
-- idempotency key stays on the row for the record; idem_held says the row
-- still holds it: a key is unique per supplier among the rows that hold it,
-- and an insert that reuses a key older than the idempotency window first
-- releases it (idem_held = false) in the same transaction.
CREATE TABLE {{schema}}.notify_notifications (
    id              text PRIMARY KEY,
    supplier_id     text NOT NULL,
    event           text NOT NULL,
    category        text NOT NULL DEFAULT '',
    priority        text NOT NULL DEFAULT '',
    recipient       jsonb NOT NULL,
    data            jsonb,
    wedding_date    text NOT NULL DEFAULT '',
    url             text NOT NULL DEFAULT '',
    reply_to        text NOT NULL DEFAULT '',
    idempotency_key text NOT NULL DEFAULT '',
    idem_held       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    acknowledged_at timestamptz,
    routed          int NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX notify_notifications_idempotency ON {{schema}}.notify_notifications (supplier_id, idempotency_key)
    WHERE idem_held;
-- A supplier's notifications, newest first (backward scan), paged by
-- (created_at, id).
CREATE INDEX notify_notifications_supplier ON {{schema}}.notify_notifications (supplier_id, created_at, id);
CREATE INDEX notify_notifications_created ON {{schema}}.notify_notifications (created_at);

-- Channels: where a notification stands on each channel.
CREATE TABLE {{schema}}.notify_channels (
    notification_id text NOT NULL,
    channel         text NOT NULL,
    status          text NOT NULL,
    provider        text NOT NULL DEFAULT '',
    error           text NOT NULL DEFAULT '',
    attempts        int NOT NULL DEFAULT 0,
    not_before      timestamptz,
    external_id     text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (notification_id, channel)
);
-- Delivery reports name the provider's message id.
CREATE INDEX notify_channels_external ON {{schema}}.notify_channels (provider, external_id) WHERE external_id <> '';

-- Attempts: the delivery log, one row per provider call. recipient is masked.
-- job_id is the job that made the call, for the crash check.
CREATE TABLE {{schema}}.notify_attempts (
    id              bigserial PRIMARY KEY,
    notification_id text NOT NULL,
    supplier_id     text NOT NULL,
    channel         text NOT NULL,
    provider        text NOT NULL DEFAULT '',
    recipient       text NOT NULL DEFAULT '',
    number          int NOT NULL,
    ok              boolean NOT NULL,
    error           text NOT NULL DEFAULT '',
    external_id     text NOT NULL DEFAULT '',
    latency_us      bigint NOT NULL DEFAULT 0,
    at              timestamptz NOT NULL,
    job_id          bigint
);
CREATE INDEX notify_attempts_notification ON {{schema}}.notify_attempts (notification_id, channel, job_id);

-- Preferences: one supplier's settings, as the JSON of Preferences.
CREATE TABLE {{schema}}.notify_preferences (
    supplier_id text PRIMARY KEY,
    prefs       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Push subscriptions. sealed holds the browser's keys or the FCM token,
-- encrypted by the host's keyring. device_key identifies the device without
-- the secret: the SHA-256 (hex) of the Web Push endpoint or of the FCM
-- token; registering the same device again updates its row.
CREATE TABLE {{schema}}.notify_push_subscriptions (
    id          text PRIMARY KEY,
    supplier_id text NOT NULL,
    kind        text NOT NULL,
    endpoint    text NOT NULL DEFAULT '',
    device_key  text,
    sealed      bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    dead_at     timestamptz
);
CREATE UNIQUE INDEX notify_push_subscriptions_device ON {{schema}}.notify_push_subscriptions (supplier_id, kind, device_key)
    WHERE device_key IS NOT NULL;
CREATE INDEX notify_push_subscriptions_supplier ON {{schema}}.notify_push_subscriptions (supplier_id, created_at);

-- Digests: at most one open digest per supplier and category; concurrent
-- adds meet on the unique key and append to the same row.
CREATE TABLE {{schema}}.notify_digests (
    id          text PRIMARY KEY,
    supplier_id text NOT NULL,
    category    text NOT NULL,
    window_end  timestamptz NOT NULL,
    items       text[] NOT NULL,
    UNIQUE (supplier_id, category)
);

-- In-app inbox.
CREATE TABLE {{schema}}.notify_inapp (
    id              text PRIMARY KEY,
    supplier_id     text NOT NULL,
    notification_id text NOT NULL,
    event           text NOT NULL,
    category        text NOT NULL DEFAULT '',
    priority        text NOT NULL DEFAULT '',
    title           text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    url             text NOT NULL DEFAULT '',
    data            jsonb,
    created_at      timestamptz NOT NULL,
    read_at         timestamptz
);
CREATE INDEX notify_inapp_supplier ON {{schema}}.notify_inapp (supplier_id, created_at, id);
CREATE INDEX notify_inapp_unread ON {{schema}}.notify_inapp (supplier_id, created_at, id) WHERE read_at IS NULL;
CREATE INDEX notify_inapp_notification ON {{schema}}.notify_inapp (notification_id);
