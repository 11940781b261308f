-- Error emails (SPEC §8) kept in the store: flood control per destination URL and the
-- emails waiting to be sent, so that a restart loses none. Times are Unix microseconds
-- (0: none).

-- One row per URL with an open flood-control window or failures held back.
CREATE TABLE error_email_windows (
    url                   TEXT PRIMARY KEY,
    last_queued           INTEGER NOT NULL,
    held                  INTEGER NOT NULL,
    held_since            INTEGER NOT NULL,
    latest_notification   TEXT NOT NULL,
    latest_at             INTEGER NOT NULL,
    latest_detail         BLOB NOT NULL
);
CREATE INDEX error_email_windows_last_queued ON error_email_windows (last_queued);

-- The emails waiting to be sent (or being tried), with their retries and leases.
CREATE TABLE error_emails (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    url             TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    failed_at       INTEGER NOT NULL,
    detail          BLOB NOT NULL,
    held            INTEGER NOT NULL,
    held_since      INTEGER NOT NULL,
    summary         INTEGER NOT NULL,
    recipients      TEXT NOT NULL,
    tries           INTEGER NOT NULL,
    sent            INTEGER NOT NULL,
    last_error      TEXT NOT NULL,
    due_at          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX error_emails_due ON error_emails (due_at, id);
