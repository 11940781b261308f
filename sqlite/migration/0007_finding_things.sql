-- Finding things in the dashboard: search by part of the customer's email, by a child's
-- reference number, and by the outcome of a transaction's latest notification.
--
-- The customer's email (fixed when the transaction is created) is a column of its own,
-- written by CreateTransaction; transactions_search keeps it and order_no beside
-- created_at, so that a search by part of either reads that index, not the documents.
-- (A virtual column read from the document would not do: SQLite then reads every
-- document to check the index's copy.)
ALTER TABLE transactions ADD COLUMN customer_email TEXT NOT NULL DEFAULT '';
UPDATE transactions SET customer_email = coalesce(json_extract(CAST(doc AS TEXT), '$.customer.email'), '');
-- In the list's order (newest first, then by session id), it also serves what
-- transactions_created served.
CREATE INDEX transactions_search ON transactions (created_at DESC, session_id, reference_number, order_no, customer_email);
DROP INDEX transactions_created;

-- A child's reference number, found exactly (the child's session id is its primary key).
ALTER TABLE children ADD COLUMN reference_number TEXT
    GENERATED ALWAYS AS (json_extract(CAST(doc AS TEXT), '$.reference_number')) VIRTUAL;
CREATE INDEX children_reference ON children (reference_number);

-- The transactions whose latest notification is not delivered start from the (few)
-- notifications in that status; the latest notification of one transaction is read
-- through notifications_session (session_id, created_at).
CREATE INDEX notifications_unsettled ON notifications (status, session_id) WHERE status <> 'delivered';
