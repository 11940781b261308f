package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// marshalDoc encodes a document for a json column. PostgreSQL's text holds only valid
// UTF-8, while raw JSON passed through (a transaction's extra) may carry other bytes:
// those become U+FFFD, as encoding/json does for strings.
func marshalDoc(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return storableJSON(b), nil
}

// storableJSON returns b with any invalid UTF-8 replaced (see marshalDoc).
func storableJSON(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
}

// marshalTransaction encodes a transaction's document. Its children are rows of their
// own (ApplyChange's Change.Child), never part of the document.
func marshalTransaction(t *payhook.Transaction) ([]byte, error) {
	head := *t
	head.Children = nil
	return marshalDoc(&head)
}

// CreateTransaction stores a new transaction, without its Children (ECONFLICT when its
// session id or reference number is taken).
func (s *Store) CreateTransaction(ctx context.Context, t *payhook.Transaction) error {
	doc, err := marshalTransaction(t)
	if err != nil {
		return err
	}
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO transactions (session_id, reference_number, order_no, plugin, origin, state,
				created_at, updated_at, expires_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				t.SessionID, t.ReferenceNumber, t.OrderNo, string(t.Type), string(t.Origin), string(t.State),
				micros(t.CreatedAt), micros(t.UpdatedAt), micros(t.ExpiresAt), doc)
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			switch {
			case uniqueViolation(err, "transactions_pkey"):
				return payhook.Errorf(payhook.ECONFLICT, "a transaction with session_id %q exists", t.SessionID)
			case uniqueViolation(err, "transactions_reference_number_key"):
				return payhook.Errorf(payhook.ECONFLICT, "a transaction with reference_number %q exists", t.ReferenceNumber)
			}
			return wrap("insert transaction", err)
		},
	})
}

// Transaction returns a transaction by session id, with its children, oldest first.
func (s *Store) Transaction(ctx context.Context, sessionID string) (*payhook.Transaction, error) {
	var t *payhook.Transaction
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT doc FROM transactions WHERE session_id = $1`, sessionID)
		b.Queue(`SELECT doc FROM children WHERE parent_session_id = $1 ORDER BY seq`, sessionID)
		br := c.SendBatch(ctx, b)
		defer br.Close()
		var err error
		if t, err = scanTransaction(br.QueryRow(), sessionID); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("load children: %w", err)
		}
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				return fmt.Errorf("load children: %w", err)
			}
			var ch payhook.Child
			if err := json.Unmarshal(doc, &ch); err != nil {
				return fmt.Errorf("decode child: %w", err)
			}
			t.Children = append(t.Children, ch)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load children: %w", err)
		}
		return br.Close()
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TransactionHead returns a transaction without its children (Children nil).
func (s *Store) TransactionHead(ctx context.Context, sessionID string) (*payhook.Transaction, error) {
	var t *payhook.Transaction
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		var err error
		t, err = scanTransaction(c.QueryRow(ctx, `SELECT doc FROM transactions WHERE session_id = $1`, sessionID), sessionID)
		return err
	})
	return t, err
}

func scanTransaction(row pgx.Row, sessionID string) (*payhook.Transaction, error) {
	var doc []byte
	err := row.Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no transaction with session_id %q", sessionID)
	}
	if err != nil {
		return nil, fmt.Errorf("load transaction: %w", err)
	}
	var t payhook.Transaction
	if err := json.Unmarshal(doc, &t); err != nil {
		return nil, fmt.Errorf("decode transaction: %w", err)
	}
	return &t, nil
}

// inTx runs fn on a connection of the pool; fn opens a transaction (BEGIN queued first
// in its first batch) and ends it (COMMIT queued last in its last one). Whatever fn
// leaves open or aborted is rolled back.
func (s *Store) inTx(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	conn := c.Conn()
	err = fn(conn)
	if !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		// A failed rollback closes the connection, and the pool drops it.
		conn.Exec(rctx, `ROLLBACK`)
		cancel()
	}
	return unavailable(err)
}

// lockTransaction queues the read of a transaction's row under a lock, so that the
// claims and changes of one transaction (in any process) run one after the other.
func lockTransaction(b *pgx.Batch, sessionID string) {
	b.Queue(`SELECT state, claim_id, updated_at FROM transactions WHERE session_id = $1 FOR UPDATE`, sessionID)
}

// lockedRow is a transaction's row as lockTransaction read it.
type lockedRow struct {
	found   bool
	state   payhook.State
	claim   string
	updated int64
}

func readLocked(br pgx.BatchResults) (lockedRow, error) {
	var r lockedRow
	err := br.QueryRow().Scan(&r.state, &r.claim, &r.updated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return r, nil
	case err != nil:
		return r, fmt.Errorf("lock transaction: %w", err)
	}
	r.found = true
	return r, nil
}

// allows reports whether the row is in one of from and, when unchanged is set, was not
// changed since.
func (r lockedRow) allows(from []payhook.State, unchanged time.Time) bool {
	return r.found && stateIn(r.state, from) && (unchanged.IsZero() || r.updated == micros(unchanged))
}

func stateIn(s payhook.State, list []payhook.State) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func conflict(sessionID string) error {
	return payhook.Errorf(payhook.ECONFLICT, "transaction %s is no longer in a state that allows this", sessionID)
}

// Keys of the writer's ops (see op): what an op decides on.
func transactionKey(sessionID string) string { return "t:" + sessionID }
func claimKey(id string) string              { return "c:" + id }
func trackingKey(key string) string          { return "k:" + key }

// lockTracking queues the read of a Tracking-Key's record, if any.
func lockTracking(b *pgx.Batch, key string) {
	b.Queue(`SELECT claim_id, done FROM operation_tracking WHERE tracking_key = $1`, key)
}

// readTracking reads lockTracking's result: whether the key is recorded, and, when it
// is in progress, under which claim.
func readTracking(br pgx.BatchResults) (recorded bool, claim string, err error) {
	var done bool
	err = br.QueryRow().Scan(&claim, &done)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, "", nil
	case err != nil:
		return false, "", fmt.Errorf("load tracking key: %w", err)
	}
	if done {
		claim = ""
	}
	return true, claim, nil
}

// ApplyChange stores a change atomically, as one op of the writer (see op): the
// transaction's row locked with the change's claim and Tracking-Key, the change decided
// on them as the SQLite store does, then every write, committed with the batch.
func (s *Store) ApplyChange(ctx context.Context, ch payhook.Change) error {
	t := ch.Transaction
	doc, err := marshalTransaction(t)
	if err != nil {
		return err
	}
	var childDoc []byte
	if ch.Child != nil {
		if childDoc, err = marshalDoc(ch.Child); err != nil {
			return err
		}
	}
	keys := []string{transactionKey(t.SessionID)}
	if ch.Claim != "" {
		keys = append(keys, claimKey(ch.Claim))
	}
	if ch.Tracking != nil {
		keys = append(keys, trackingKey(ch.Tracking.Key))
	}
	var writes int
	return s.do(ctx, &op{
		keys: keys,
		lock: func(b *pgx.Batch) {
			lockTransaction(b, t.SessionID)
			if ch.Claim != "" {
				b.Queue(`SELECT owner FROM claims WHERE id = $1 FOR UPDATE`, ch.Claim)
			}
			if ch.Tracking != nil {
				lockTracking(b, ch.Tracking.Key)
			}
		},
		decide: func(br pgx.BatchResults) error {
			row, err := readLocked(br)
			if err != nil {
				return err
			}
			claimLost := false
			if ch.Claim != "" {
				var owner string
				err := br.QueryRow().Scan(&owner)
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					claimLost = true
				case err != nil:
					return fmt.Errorf("load claim: %w", err)
				default:
					claimLost = owner != ch.ClaimOwner
				}
			}
			var recorded bool
			var inProgress string
			if ch.Tracking != nil {
				if recorded, inProgress, err = readTracking(br); err != nil {
					return err
				}
			}
			switch {
			case claimLost:
				return payhook.ErrClaimLost
			case !row.allows(ch.From, ch.Unchanged) || row.claim != ch.Claim:
				if row.found && row.claim != "" && ch.Claim == "" {
					return payhook.ErrClaimed
				}
				return conflict(t.SessionID)
			case recorded && (ch.Claim == "" || inProgress != ch.Claim):
				return payhook.ErrTrackingKeyUsed
			}
			return nil
		},
		queue: func(b *pgx.Batch) {
			before := b.Len()
			if ch.Claim != "" {
				b.Queue(`DELETE FROM claims WHERE id = $1 AND owner = $2`, ch.Claim, ch.ClaimOwner)
			}
			if ch.Delete {
				b.Queue(`DELETE FROM transactions WHERE session_id = $1`, t.SessionID)
			} else {
				b.Queue(`UPDATE transactions SET state = $1, updated_at = $2, expires_at = $3, doc = $4, claim_id = ''
					WHERE session_id = $5`, string(t.State), micros(t.UpdatedAt), micros(t.ExpiresAt), doc, t.SessionID)
			}
			if ch.Child != nil {
				b.Queue(`INSERT INTO children (session_id, parent_session_id, seq, doc)
					VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM children WHERE parent_session_id = $2), $3)`,
					ch.Child.SessionID, t.SessionID, childDoc)
			}
			if tr := ch.Tracking; tr != nil {
				queueTrackingAnswer(b, tr, ch.Claim)
			}
			queueNotifications(b, ch.Notifications, ch.Lease)
			writes = b.Len() - before
		},
		read: func(br pgx.BatchResults) error {
			err := execAll(br, writes)
			if uniqueViolation(err, "operation_tracking_pkey") {
				// recorded by another process since it was read
				return payhook.ErrTrackingKeyUsed
			}
			return wrap("apply change", err)
		},
		wake: wakeFor(ch.Notifications, ch.Lease),
	})
}

// execAll reads n results of a batch, stopping at the first error.
func execAll(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// queueTrackingAnswer queues the recording of a Tracking-Key's answer: completing the row
// recorded in progress under claim, else inserting it, which fails as a unique
// violation of operation_tracking_pkey when the key is taken (and so undoes the change).
func queueTrackingAnswer(b *pgx.Batch, tr *payhook.Tracking, claim string) {
	b.Queue(`WITH completed AS (
			UPDATE operation_tracking SET done = true, claim_id = '', status_code = $4, answer = $5
			WHERE tracking_key = $1 AND $7 <> '' AND claim_id = $7 AND NOT done
			RETURNING 1)
		INSERT INTO operation_tracking (tracking_key, request_hash, session_id, status_code, answer, created_at, claim_id, done)
		SELECT $1::text, $2::text, $3::text, $4::integer, $5::bytea, $6::bigint, '', true WHERE NOT EXISTS (SELECT 1 FROM completed)`,
		tr.Key, tr.RequestHash, tr.SessionID, int32(tr.StatusCode), nonNil(tr.Answer), micros(tr.CreatedAt), claim)
}

// nonNil returns b, or an empty slice for nil (the columns are NOT NULL, as SQLite's
// empty blobs).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *Store) transactions(ctx context.Context, query string, args ...any) ([]*payhook.Transaction, error) {
	var out []*payhook.Transaction
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("load transactions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				return fmt.Errorf("load transactions: %w", err)
			}
			var t payhook.Transaction
			if err := json.Unmarshal(doc, &t); err != nil {
				return fmt.Errorf("decode transaction: %w", err)
			}
			out = append(out, &t)
		}
		return wrap("load transactions", rows.Err())
	})
	return out, err
}

// TransactionsByOrderNo returns the transactions with that order_no, newest first.
func (s *Store) TransactionsByOrderNo(ctx context.Context, orderNo string) ([]*payhook.Transaction, error) {
	return s.transactions(ctx, `SELECT doc FROM transactions WHERE order_no = $1 AND order_no <> '' ORDER BY created_at DESC`, orderNo)
}

// ExpiredTransactions returns payable transactions past their expiration time.
func (s *Store) ExpiredTransactions(ctx context.Context, now time.Time, limit int) ([]*payhook.Transaction, error) {
	return s.transactions(ctx, `SELECT doc FROM transactions WHERE state IN ('created', 'pending', 'attempted') AND expires_at <= $1
		ORDER BY expires_at LIMIT $2`, micros(now), sqlLimit(limit))
}

// Tracking returns the recorded answer of a Tracking-Key.
func (s *Store) Tracking(ctx context.Context, key string) (*payhook.Tracking, error) {
	var tr payhook.Tracking
	var created int64
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, `SELECT tracking_key, request_hash, session_id, status_code, answer, created_at, claim_id, done
			FROM operation_tracking WHERE tracking_key = $1`, key).Scan(&tr.Key, &tr.RequestHash, &tr.SessionID, &tr.StatusCode,
			&tr.Answer, &created, &tr.ClaimID, &tr.Done)
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no operation with Tracking-Key %q", key)
		}
		return wrap("load tracking key", err)
	})
	if err != nil {
		return nil, err
	}
	tr.CreatedAt = fromMicros(created)
	return &tr, nil
}

// where builds a WHERE clause with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// add adds a condition ending in "$" (completed with v's placeholder).
func (w *where) add(cond string, v any) {
	w.conds = append(w.conds, cond+w.arg(v)[1:])
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// sqlLimit is a LIMIT's parameter: a negative limit means none (as SQLite's LIMIT -1),
// which PostgreSQL spells NULL.
func sqlLimit(n int) any {
	if n < 0 {
		return nil
	}
	return n
}
