-- The accepted attempts by start time: the notifications delivered on a day (daily
-- digests) are read through it instead of every attempt of every notification.
CREATE INDEX attempts_accepted ON attempts (started_at) WHERE status_code IN (200, 201);
