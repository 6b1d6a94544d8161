-- The id of the job that made each attempt, for the crash check: a job run
-- again after a crash looks for its own attempt by job id, instead of by
-- comparing the attempt's time (the host's clock) with the job's creation
-- (the database's clock), which a skewed host clock made unreliable. Rows
-- from before this migration have none.
ALTER TABLE {{schema}}.webhook_attempts ADD COLUMN job_id bigint;
