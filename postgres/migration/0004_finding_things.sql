-- Finding things in the dashboard, as the SQLite store's migration 0007: search by part of
-- the customer's email, by a child's reference number, and by the outcome of a
-- transaction's latest notification.
--
-- The customer's email is read from the document into a stored generated column (kept in
-- step by PostgreSQL on every write, no code does it); transactions_search keeps it and
-- order_no beside created_at, so that a search by part of either can read the index only
-- (newest first), not the documents.
ALTER TABLE transactions ADD COLUMN customer_email text
    GENERATED ALWAYS AS (coalesce(doc -> 'customer' ->> 'email', '')) STORED;
-- In the list's order (newest first, then by session id), it also serves what
-- transactions_created served.
CREATE INDEX transactions_search ON transactions (created_at DESC, session_id) INCLUDE (reference_number, order_no, customer_email);
DROP INDEX transactions_created;

-- A child's reference number, found exactly (the child's session id is its primary key).
CREATE INDEX children_reference ON children ((doc ->> 'reference_number'));

-- The transactions whose latest notification is not delivered start from the (few)
-- notifications in that status; the latest notification of one transaction is read
-- through notifications_session (session_id, created_at).
CREATE INDEX notifications_unsettled ON notifications (status, session_id) WHERE status <> 'delivered';
