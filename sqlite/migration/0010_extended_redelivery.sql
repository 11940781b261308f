-- Extended redelivery (issue 10). extended: the notification was created with extended
-- redelivery on (decided then and kept). While its schedule runs, the notification is
-- failed (as Ottu says) with redelivery_ends_at > 0 and next_attempt_at its next extended
-- attempt; redelivery_attempts counts the extended attempts made.
ALTER TABLE notifications ADD COLUMN extended INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN redelivery_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN redelivery_ends_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notifications_redelivery_due ON notifications (next_attempt_at) WHERE redelivery_ends_at > 0;

-- A plugin's override of the global switch: NULL follows it.
ALTER TABLE plugin_settings ADD COLUMN extended_redelivery INTEGER;
