-- Error emails (SPEC §8) kept in the store, as the SQLite store's migration 0005:
-- flood control per destination URL and the emails waiting to be sent, shared by every
-- process, so that they keep to one email per URL per window and a restart loses none.
-- Times are Unix microseconds (0: none).

-- One row per URL with an open flood-control window or failures held back; a row is
-- locked (FOR UPDATE) while a failure is admitted or its failures summed up.
CREATE TABLE error_email_windows (
    url                 text    PRIMARY KEY,
    last_queued         bigint  NOT NULL,
    held                integer NOT NULL,
    held_since          bigint  NOT NULL,
    latest_notification text    NOT NULL,
    latest_at           bigint  NOT NULL,
    latest_detail       bytea   NOT NULL
);
CREATE INDEX error_email_windows_last_queued ON error_email_windows (last_queued);

-- The emails waiting to be sent (or being tried), leased with FOR UPDATE SKIP LOCKED.
CREATE TABLE error_emails (
    id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             text    NOT NULL,
    notification_id text    NOT NULL,
    failed_at       bigint  NOT NULL,
    detail          bytea   NOT NULL,
    held            integer NOT NULL,
    held_since      bigint  NOT NULL,
    summary         boolean NOT NULL,
    recipients      text[]  NOT NULL,
    tries           integer NOT NULL,
    sent            integer NOT NULL,
    last_error      text    NOT NULL,
    due_at          bigint  NOT NULL,
    created_at      bigint  NOT NULL,
    lease_owner     text    NOT NULL DEFAULT '',
    lease_until     bigint  NOT NULL DEFAULT 0
);
CREATE INDEX error_emails_due ON error_emails (due_at, id);
