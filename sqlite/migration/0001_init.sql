-- The first schema: settings, transactions, notifications with their attempts, API keys.
-- Times are Unix microseconds (0: none).
CREATE TABLE settings (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL
);

CREATE TABLE plugin_settings (
    plugin               TEXT PRIMARY KEY,
    webhook_url          TEXT NOT NULL,
    state_filter_enabled INTEGER NOT NULL,
    states               TEXT NOT NULL
);

CREATE TABLE transactions (
    session_id       TEXT PRIMARY KEY,
    reference_number TEXT NOT NULL UNIQUE,
    order_no         TEXT NOT NULL,
    plugin           TEXT NOT NULL,
    origin           TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    doc              TEXT NOT NULL
);
CREATE INDEX transactions_order_no ON transactions (order_no) WHERE order_no <> '';
CREATE INDEX transactions_created ON transactions (created_at);
CREATE INDEX transactions_expiry ON transactions (expires_at) WHERE state IN ('created', 'pending', 'attempted');

CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    reference_number TEXT NOT NULL,
    url              TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT NOT NULL,
    redirect_decider INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    body             BLOB NOT NULL,
    content_type     TEXT NOT NULL,
    round_attempts   INTEGER NOT NULL DEFAULT 0,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_until      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_session ON notifications (session_id, created_at);
CREATE INDEX notifications_created ON notifications (created_at);

CREATE TABLE attempts (
    notification_id  TEXT NOT NULL,
    number           INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_us      INTEGER NOT NULL,
    status_code      INTEGER NOT NULL,
    error            TEXT NOT NULL,
    response_excerpt TEXT NOT NULL,
    PRIMARY KEY (notification_id, number)
);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0
);
