-- Endpoint health (docs/endpoint-health.md): each webhook URL's state after its recent
-- attempts, shared by every process; notifications to a disabled URL are held
-- (status 'held') and released (released_at) oldest first by a resume.
-- Times are Unix microseconds (0: none).
CREATE TABLE endpoint_health (
    url              TEXT PRIMARY KEY,
    state            TEXT NOT NULL,
    first_failure_at INTEGER NOT NULL DEFAULT 0,
    last_failure_at  INTEGER NOT NULL DEFAULT 0,
    last_success_at  INTEGER NOT NULL DEFAULT 0,
    changed_at       INTEGER NOT NULL DEFAULT 0,
    resumed_at       INTEGER NOT NULL DEFAULT 0,
    resumed_by       TEXT NOT NULL DEFAULT ''
);

ALTER TABLE notifications ADD COLUMN released_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notifications_held ON notifications (url, created_at, id) WHERE status = 'held';
CREATE INDEX notifications_released ON notifications (url, released_at) WHERE released_at > 0;
