-- Money-safe ordering and coordination through the store: claims (the intent recorded
-- before a gateway call), children as rows of their own, Tracking-Keys in progress,
-- settings revisions, shared sign-in throttle, roles held by one process, the sandbox
-- gateway's ledger.
ALTER TABLE transactions ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';

CREATE TABLE claims (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    until      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX claims_until ON claims (until);

CREATE TABLE children (
    session_id        TEXT PRIMARY KEY,
    parent_session_id TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX children_parent ON children (parent_session_id, seq);

ALTER TABLE operation_tracking ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';
ALTER TABLE operation_tracking ADD COLUMN done INTEGER NOT NULL DEFAULT 1;

ALTER TABLE settings ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;

CREATE TABLE sign_in_failures (
    key TEXT NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at);

CREATE TABLE leaders (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until INTEGER NOT NULL
);

CREATE TABLE gateway_calls (
    reference  TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    currency   TEXT NOT NULL,
    success    INTEGER NOT NULL,
    result     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX gateway_calls_session ON gateway_calls (session_id);

CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
