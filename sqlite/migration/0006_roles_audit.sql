-- Roles of dashboard users (everyone before roles existed was an admin) and their
-- deactivation; the audit log filtered by actor and action.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE users ADD COLUMN deactivated_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX audit_log_action ON audit_log (action, id);
