-- Answers to operations sent with a Tracking-Key, stored with the operation itself.
CREATE TABLE operation_tracking (
    tracking_key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    answer       BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
