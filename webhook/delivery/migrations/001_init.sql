-- Endpoints: a vendor URL per supplier. secrets holds the signing secrets,
-- sealed with the host's AES-256-GCM key (bound to the endpoint id).
CREATE TABLE {{schema}}.webhook_endpoints (
    id              text PRIMARY KEY,
    supplier_id     text NOT NULL,
    url             text NOT NULL,
    description     text NOT NULL DEFAULT '',
    event_types     text[] NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'paused', 'disabled')),
    disabled_reason text NOT NULL DEFAULT '',
    rate_limit      double precision NOT NULL DEFAULT 0,
    secrets         bytea NOT NULL,
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_supplier ON {{schema}}.webhook_endpoints (supplier_id);

-- Messages: the payload exactly as the host gave it (bytea, so the signed
-- bytes never change), kept for resends and the retention window.
CREATE TABLE {{schema}}.webhook_messages (
    id              text PRIMARY KEY,
    supplier_id     text NOT NULL,
    event_type      text NOT NULL,
    payload         bytea NOT NULL,
    idempotency_key text,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX webhook_messages_idempotency ON {{schema}}.webhook_messages (supplier_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX webhook_messages_created ON {{schema}}.webhook_messages (created_at);

-- Attempts: the audit trail, one row per delivery attempt.
CREATE TABLE {{schema}}.webhook_attempts (
    id              bigserial PRIMARY KEY,
    message_id      text NOT NULL,
    endpoint_id     text NOT NULL,
    supplier_id     text NOT NULL,
    event_type      text NOT NULL,
    number          int NOT NULL,
    status          text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    response_status int NOT NULL DEFAULT 0,
    latency_us      bigint NOT NULL DEFAULT 0,
    response_body   text NOT NULL DEFAULT '',
    error           text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL,
    next_attempt_at timestamptz
);
CREATE INDEX webhook_attempts_message ON {{schema}}.webhook_attempts (message_id, endpoint_id);
CREATE INDEX webhook_attempts_endpoint ON {{schema}}.webhook_attempts (endpoint_id, at);
CREATE INDEX webhook_attempts_supplier ON {{schema}}.webhook_attempts (supplier_id, id);
CREATE INDEX webhook_attempts_at ON {{schema}}.webhook_attempts (at);
