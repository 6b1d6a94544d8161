-- OAuth providers: a connection whose credentials can no longer be renewed
-- waits for the supplier to connect again (needs_reconnect); its watch
-- (Google channel, Graph subscription) is kept sealed, found by its id
-- when a notification arrives.
ALTER TABLE {{schema}}.calendar_connections
    ADD COLUMN needs_reconnect boolean NOT NULL DEFAULT false,
    ADD COLUMN watch_id text,
    ADD COLUMN watch bytea,
    ADD COLUMN watch_expires timestamptz;
CREATE UNIQUE INDEX calendar_connections_watch ON {{schema}}.calendar_connections (watch_id) WHERE watch_id IS NOT NULL;
