-- Realtime broker: one row per topic, its bounded history, and when the
-- history store was created (a replay from before then is never complete).

-- The single meta row. created_at bounds what History can know.
CREATE TABLE {{schema}}.realtime_meta (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO {{schema}}.realtime_meta (id) VALUES (true);

-- Topics: the offset counter and the trim mark. A publisher locks its
-- topic's row for the length of its transaction, so offsets are gapless and
-- commit (and notify) in offset order. trimmed_offset/trimmed_time describe
-- the newest publication that left history (0/NULL when none did).
CREATE TABLE {{schema}}.realtime_topics (
    topic          text PRIMARY KEY,
    epoch          text NOT NULL,
    last_offset    bigint NOT NULL,
    last_time      timestamptz NOT NULL,
    trimmed_offset bigint NOT NULL DEFAULT 0,
    trimmed_time   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- History: the payload as bytea so it is kept byte for byte.
CREATE TABLE {{schema}}.realtime_history (
    topic      text NOT NULL,
    "offset"   bigint NOT NULL,
    event      text NOT NULL,
    payload    bytea NOT NULL,
    origin     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (topic, "offset")
);
