-- Presence shared by every hub instance on the schema: one row per tracked
-- channel (a member), written by the instance that holds the channel's
-- socket. Each instance pushes its rows' expires_at forward every third of
-- the presence TTL; a row that has expired belongs to an instance that
-- stopped (crashed, cut off from the database) and any live instance
-- deletes it, which tells the others it left.
CREATE TABLE {{schema}}.realtime_presence (
    topic      text NOT NULL,
    id         text NOT NULL,  -- the tracked channel, unique across instances
    key        text NOT NULL,  -- the presence key the member shows under
    meta       bytea NOT NULL, -- the meta as sent to sockets, a JSON object
    instance   text NOT NULL,  -- the broker that owns (and refreshes) the row
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (topic, id)
);

-- An instance refreshes (and, on Close, deletes) its own rows.
CREATE INDEX realtime_presence_instance ON {{schema}}.realtime_presence (instance);

-- The sweep looks for expired rows.
CREATE INDEX realtime_presence_expires ON {{schema}}.realtime_presence (expires_at);
