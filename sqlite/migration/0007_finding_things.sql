-- Finding things in the dashboard: search by part of the customer's email, by a child's
-- reference number, and by the outcome of a transaction's latest notification.
--
-- The customer's email is read from the document by a virtual column: it costs nothing to
-- store, and transactions_search keeps it (with order_no) beside created_at, so that a
-- search by part of either scans that index, not the documents, and lists newest first
-- from it.
ALTER TABLE transactions ADD COLUMN customer_email TEXT
    GENERATED ALWAYS AS (coalesce(json_extract(CAST(doc AS TEXT), '$.customer.email'), '')) VIRTUAL;
CREATE INDEX transactions_search ON transactions (created_at, session_id, reference_number, order_no, customer_email);

-- A child's reference number, found exactly (the child's session id is its primary key).
ALTER TABLE children ADD COLUMN reference_number TEXT
    GENERATED ALWAYS AS (json_extract(CAST(doc AS TEXT), '$.reference_number')) VIRTUAL;
CREATE INDEX children_reference ON children (reference_number);

-- The transactions whose latest notification is not delivered start from the (few)
-- notifications in that status; the latest notification of one transaction is read
-- through notifications_session (session_id, created_at).
CREATE INDEX notifications_unsettled ON notifications (status, session_id) WHERE status <> 'delivered';
