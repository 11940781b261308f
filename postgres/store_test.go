package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/pgtest"
	"github.com/payhook/payhook/payload"
	"github.com/payhook/payhook/postgres"
)

// open opens a store on url, closed when the test ends.
func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// twoProcesses opens two stores on one fresh database, as two payhook processes would,
// and returns them with the database's URL.
func twoProcesses(t *testing.T) (a, b *postgres.Store, dbURL string) {
	t.Helper()
	dbURL = pgtest.URL(t)
	return open(t, dbURL), open(t, dbURL), dbURL
}

// base is a fixed instant (UTC, no monotonic reading) so that stored times compare equal.
var base = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func newTxn() *payhook.Transaction {
	return &payhook.Transaction{
		SessionID: payhook.NewSessionID(), ReferenceNumber: payhook.NewReferenceNumber(), OrderNo: "ORDER-1",
		Type: payhook.PluginECommerce, Origin: payhook.OriginAPI, State: payhook.StateCreated, Amount: 86000,
		Currency: "KWD", PGCodes: []string{"credit-card"}, ExpiresAt: base.Add(24 * time.Hour), CreatedAt: base, UpdatedAt: base,
	}
}

// pendingNotes returns n pending notifications due at base.
func pendingNotes(n int) []*payhook.Notification {
	out := make([]*payhook.Notification, n)
	for i := range out {
		out[i] = &payhook.Notification{
			ID: payhook.NewNotificationID(), Kind: payhook.KindPayment, SessionID: payhook.NewSessionID(),
			ReferenceNumber: payhook.NewReferenceNumber(), URL: "https://merchant.example/webhook",
			Status: payhook.StatusPending, CreatedAt: base, UpdatedAt: base, Body: []byte(`{"state":"paid"}`),
			ContentType: "application/json", NextAttemptAt: base,
		}
	}
	return out
}

func lease(owner string, d time.Duration) payhook.Lease {
	return payhook.Lease{Owner: owner, Until: base.Add(d)}
}

// TestStore_ClaimDueNeverGivesANotificationToTwoProcesses: workers of two processes
// claim the same due notifications at once; each is handed out exactly once.
func TestStore_ClaimDueNeverGivesANotificationToTwoProcesses(t *testing.T) {
	t.Parallel()
	a, b, _ := twoProcesses(t)
	ctx := t.Context()
	const total = 600
	notes := pendingNotes(total)
	for i := 0; i < total; i += 100 {
		require.NoError(t, a.AddNotifications(ctx, notes[i:i+100], payhook.Lease{}))
	}

	var mu sync.Mutex
	got := map[string]string{} // notification → the worker that claimed it
	var wg sync.WaitGroup
	for w := range 16 {
		s := []*postgres.Store{a, b}[w%2]
		owner := fmt.Sprintf("process-%d/worker-%d", w%2, w)
		wg.Go(func() {
			for {
				claimed, err := s.ClaimDue(ctx, base.Add(time.Second), lease(owner, time.Hour), 7)
				if err != nil {
					t.Errorf("%s: claim: %v", owner, err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				mu.Lock()
				for _, n := range claimed {
					if other, dup := got[n.ID]; dup {
						t.Errorf("%s was claimed by %s and by %s", n.ID, other, owner)
					}
					got[n.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, got, total, "every due notification was claimed")
}

// TestStore_OpeningLeavesOtherProcessesLeasesAndClaims: a process starting does not
// take over what a running process holds; only expiry frees it.
func TestStore_OpeningLeavesOtherProcessesLeasesAndClaims(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	a := open(t, dbURL)
	ctx := t.Context()
	notes := pendingNotes(1)
	require.NoError(t, a.AddNotifications(ctx, notes, lease("process-a", time.Hour)))
	txn := newTxn()
	require.NoError(t, a.CreateTransaction(ctx, txn))
	claim := &payhook.Claim{ID: "PGREF-1", SessionID: txn.SessionID, Kind: payhook.ClaimPayment, Owner: "process-a",
		Until: base.Add(time.Hour), CreatedAt: base, From: []payhook.State{payhook.StateCreated}, PGCode: "credit-card"}
	require.NoError(t, a.Claim(ctx, claim))

	b := open(t, dbURL)
	now := base.Add(time.Minute)
	due, err := b.ClaimDue(ctx, now, lease("process-b", time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, due, "the lease of process-a still holds")
	stale, err := b.StaleClaims(ctx, now, 10)
	require.NoError(t, err)
	require.Empty(t, stale, "the claim of process-a is not stale")
	st, err := b.DeliveryStats(ctx, now)
	require.NoError(t, err)
	require.Equal(t, 1, st.LeasesHeld)
	require.ErrorIs(t, b.Claim(ctx, &payhook.Claim{ID: "PGREF-2", SessionID: txn.SessionID, Kind: payhook.ClaimPayment,
		Owner: "process-b", Until: base.Add(time.Hour), From: []payhook.State{payhook.StateCreated}}), payhook.ErrClaimed)

	// Once they expire, the other process takes over.
	later := base.Add(2 * time.Hour)
	due, err = b.ClaimDue(ctx, later, lease("process-b", 3*time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	stale, err = b.StaleClaims(ctx, later, 10)
	require.NoError(t, err)
	require.Len(t, stale, 1)
	require.ErrorIs(t, a.RecordAttempt(ctx, notes[0].ID, payhook.Attempt{StartedAt: later, StatusCode: 200}, payhook.StatusDelivered,
		time.Time{}, lease("process-a", time.Hour)), payhook.ErrLeaseLost, "fenced: process-a's lease was taken over")
}

// waitWake waits up to d for s's Wake and reports whether it fired.
func waitWake(s *postgres.Store, d time.Duration) bool {
	select {
	case <-s.Wake():
		return true
	case <-time.After(d):
		return false
	}
}

// drain empties s's Wake.
func drain(s *postgres.Store) {
	select {
	case <-s.Wake():
	default:
	}
}

// TestStore_NotifyWakesEveryProcess: notifications that become due for anyone wake the
// other process's store (and this one's); one leased to its storer wakes nobody.
func TestStore_NotifyWakesEveryProcess(t *testing.T) {
	t.Parallel()
	a, b, _ := twoProcesses(t)
	ctx := t.Context()

	notes := pendingNotes(2)
	require.NoError(t, a.AddNotifications(ctx, notes[:1], payhook.Lease{}))
	require.True(t, waitWake(b, 5*time.Second), "an unleased pending notification wakes the other process")
	require.True(t, waitWake(a, 5*time.Second), "and the storing one")

	require.NoError(t, a.AddNotifications(ctx, notes[1:], lease("process-a", time.Hour)))
	require.False(t, waitWake(b, 300*time.Millisecond), "a notification leased to its storer is its own to deliver")
	drain(a)

	require.NoError(t, a.ReleaseLease(ctx, notes[1].ID, "process-b"))
	require.False(t, waitWake(b, 300*time.Millisecond), "a lease not held is left alone, and wakes nobody")
	require.NoError(t, a.ReleaseLease(ctx, notes[1].ID, "process-a"))
	require.True(t, waitWake(b, 5*time.Second), "a released lease wakes the other process")

	// A change storing a pending notification without a lease wakes too.
	txn := newTxn()
	require.NoError(t, a.CreateTransaction(ctx, txn))
	paid := *txn
	paid.State, paid.UpdatedAt = payhook.StatePaid, base.Add(time.Minute)
	n := pendingNotes(1)[0]
	n.SessionID = txn.SessionID
	drain(b)
	require.NoError(t, a.ApplyChange(ctx, payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StateCreated},
		Notifications: []*payhook.Notification{n}}))
	require.True(t, waitWake(b, 5*time.Second), "ApplyChange with an unleased pending notification wakes the other process")

	// Re-sent in bulk (unleased): wakes.
	claimed, err := b.ClaimDue(ctx, base.Add(time.Hour), lease("process-b", 2*time.Hour), 10)
	require.NoError(t, err)
	for _, c := range claimed {
		require.NoError(t, b.RecordAttempt(ctx, c.ID, payhook.Attempt{StartedAt: base.Add(time.Hour), StatusCode: 200},
			payhook.StatusDelivered, time.Time{}, lease("process-b", 2*time.Hour)))
	}
	drain(a)
	resent, err := b.ResendMatching(ctx, payhook.NotificationFilter{SessionID: txn.SessionID}, base.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, resent)
	require.True(t, waitWake(a, 5*time.Second), "a bulk re-send wakes the other process")
}

// TestStore_ListenerReconnects: when the LISTEN connection is killed, the store
// reconnects, signals once (what was notified meanwhile is unknown), and wakes again on
// the next NOTIFY.
func TestStore_ListenerReconnects(t *testing.T) {
	t.Parallel()
	a, b, dbURL := twoProcesses(t)
	ctx := t.Context()
	db := dbName(t, dbURL)
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	var killed int
	require.NoError(t, admin.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND query = 'LISTEN payhook_due'`, db).Scan(&killed))
	require.Equal(t, 2, killed, "both stores' listeners")
	require.True(t, waitWake(b, 10*time.Second), "the reconnected listener signals")
	drain(b)
	// Wait until both listen again, then a NOTIFY reaches them.
	require.Eventually(t, func() bool {
		var n int
		return admin.QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND query = 'LISTEN payhook_due'`, db).Scan(&n) == nil && n == 2
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, a.AddNotifications(ctx, pendingNotes(1), payhook.Lease{}))
	require.True(t, waitWake(b, 5*time.Second))
}

// withParam returns dbURL with the query parameter name set to value.
func withParam(t *testing.T, dbURL, name, value string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func dbName(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	return u.Path[1:]
}

// requireUnavailable requires an EUNAVAILABLE error with a message for users.
func requireUnavailable(t *testing.T, err error, why string) {
	t.Helper()
	require.Errorf(t, err, "want EUNAVAILABLE: %s", why)
	require.Equalf(t, payhook.EUNAVAILABLE, payhook.ErrorCode(err), "%s: got %v", why, err)
	require.NotEqual(t, "internal error", payhook.ErrorMessage(err))
}

// TestStore_UnreachableServerIsUnavailable: a server that cannot be reached is
// EUNAVAILABLE, at Open as for any call.
func TestStore_UnreachableServerIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	_, err = postgres.Open(t.Context(), "postgres://postgres@"+closed+"/payhook?sslmode=disable&connect_timeout=5")
	requireUnavailable(t, err, "nothing listens on the port")
}

// TestStore_ReadOnlyDatabaseIsUnavailableForWrites: a database that refuses writes
// (default_transaction_read_only, as on a standby) still opens and answers reads, and
// every write fails with EUNAVAILABLE and stores nothing.
func TestStore_ReadOnlyDatabaseIsUnavailableForWrites(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	ctx := t.Context()
	first := open(t, dbURL)
	txn := newTxn()
	require.NoError(t, first.CreateTransaction(ctx, txn))
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	_, err = admin.Exec(ctx, `ALTER DATABASE `+dbName(t, dbURL)+` SET default_transaction_read_only = on`)
	require.NoError(t, err)

	s := open(t, dbURL) // new connections: read-only
	require.NoError(t, s.Ping(ctx))
	_, err = s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	requireUnavailable(t, s.PingWrite(ctx), "PingWrite on a read-only database")
	requireUnavailable(t, s.CreateTransaction(ctx, newTxn()), "CreateTransaction")
	paid := *txn
	paid.State = payhook.StatePaid
	requireUnavailable(t, s.ApplyChange(ctx, payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StateCreated},
		Notifications: pendingNotes(1)}), "ApplyChange")
	requireUnavailable(t, s.AddNotifications(ctx, pendingNotes(1), payhook.Lease{}), "AddNotifications")
	got, err := s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StateCreated, got.State, "nothing was stored")
}

// proxy forwards loopback TCP connections to target until stopped, so that a test can
// cut a store off its server.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target, addr string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop stops accepting and cuts every connection.
func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestStore_LostServerIsUnavailableUntilItIsBack: when the connections to the server
// break, calls fail with EUNAVAILABLE; once the server is reachable again the store
// recovers by itself.
func TestStore_LostServerIsUnavailableUntilItIsBack(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	server := u.Host
	p := startProxy(t, server, "127.0.0.1:0")
	addr := p.ln.Addr().String()
	u.Host = addr
	s, err := postgres.Open(t.Context(), withParam(t, u.String(), "connect_timeout", "5"), postgres.WithAcquireTimeout(3*time.Second),
		postgres.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	defer s.Close()
	ctx := t.Context()
	require.NoError(t, s.PingWrite(ctx))

	p.stop()
	requireUnavailable(t, s.PingWrite(ctx), "PingWrite with the server gone")
	requireUnavailable(t, s.CreateTransaction(ctx, newTxn()), "CreateTransaction with the server gone")
	_, err = s.TransactionHead(ctx, "nobody")
	requireUnavailable(t, err, "a read with the server gone")

	startProxy(t, server, addr) // the server is back on the same address
	require.Eventually(t, func() bool { return s.PingWrite(ctx) == nil }, 10*time.Second, 50*time.Millisecond,
		"the store recovers by itself")
	require.NoError(t, s.CreateTransaction(ctx, newTxn()))
}

// TestStore_FailingWriteDoesNotFailItsBatch: writes batched together commit together,
// yet one that fails (a duplicate) fails alone.
func TestStore_FailingWriteDoesNotFailItsBatch(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.URL(t))
	ctx := t.Context()
	taken := newTxn()
	require.NoError(t, s.CreateTransaction(ctx, taken))
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			txn := newTxn()
			if i%10 == 0 {
				txn.SessionID = taken.SessionID
			}
			errs[i] = s.CreateTransaction(ctx, txn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%10 == 0 {
			require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "duplicate %d: %v", i, err)
		} else {
			require.NoError(t, err, "write %d failed with its batch", i)
		}
	}
	list, total, err := s.ListTransactions(ctx, payhook.TransactionFilter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 1+n-n/10, total)
}

// TestStore_KeepsWhatPostgreSQLTextCannot: bytes SQLite would keep as they are (a NUL in
// a merchant's answer, invalid UTF-8 in raw JSON) are stored too.
func TestStore_KeepsWhatPostgreSQLTextCannot(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.URL(t))
	ctx := t.Context()
	notes := pendingNotes(1)
	require.NoError(t, s.AddNotifications(ctx, notes, lease("w", time.Hour)))
	excerpt := "ok\x00binary"
	require.NoError(t, s.RecordAttempt(ctx, notes[0].ID, payhook.Attempt{Number: 1, StartedAt: base, Duration: time.Millisecond,
		StatusCode: 200, ResponseExcerpt: excerpt}, payhook.StatusDelivered, time.Time{}, lease("w", time.Hour)))
	got, err := s.Notification(ctx, notes[0].ID)
	require.NoError(t, err)
	require.Len(t, got.Attempts, 1)
	require.Equal(t, excerpt, got.Attempts[0].ResponseExcerpt)

	txn := newTxn()
	txn.Extra = json.RawMessage("{\"note\":\"caf\xe9\"}")
	require.NoError(t, s.CreateTransaction(ctx, txn))
	back, err := s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.JSONEq(t, `{"note":"caf`+"\uFFFD"+`"}`, string(back.Extra), "invalid UTF-8 is replaced, not refused")
}

// TestMigrate_TwoProcessesStartingAtOnce: migrations run once however many processes
// open a fresh database at the same time.
func TestMigrate_TwoProcessesStartingAtOnce(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dbURL)
			if err != nil {
				t.Errorf("open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	n, err := postgres.Migrate(t.Context(), dbURL)
	require.NoError(t, err)
	require.Zero(t, n, "every migration ran already")

	fresh := pgtest.URL(t)
	n, err = postgres.Migrate(t.Context(), fresh)
	require.NoError(t, err)
	require.Positive(t, n)
}

// TestStore_ExhaustedPoolIsUnavailable: a call that gets no connection within the
// acquire timeout fails with EUNAVAILABLE instead of waiting forever.
func TestStore_ExhaustedPoolIsUnavailable(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(t.Context(), withParam(t, pgtest.URL(t), "pool_max_conns", "1"), postgres.WithAcquireTimeout(200*time.Millisecond))
	require.NoError(t, err)
	defer s.Close()
	held, err := postgres.Pool(s).Acquire(t.Context())
	require.NoError(t, err)
	err = s.Ping(t.Context())
	requireUnavailable(t, err, "the only connection is taken")
	requireUnavailable(t, s.PingWrite(t.Context()), "the writer gets no connection either")
	held.Release()
	require.NoError(t, s.PingWrite(t.Context()))
}

// TestMigrate_0006OperationNotificationsGetTheirPayloadsReference: operation
// notifications stored with the parent's reference_number (before 0006) show the one in
// their payload, the operation's own, JSON and XML alike; payment notifications keep theirs.
func TestMigrate_0006OperationNotificationsGetTheirPayloadsReference(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := pgtest.URL(t)
	s, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	txn := newTxn()
	txn.Customer.Email = "jane@example.com"
	require.NoError(t, s.CreateTransaction(ctx, txn))
	child := &payhook.Child{SessionID: payhook.NewSessionID(), ReferenceNumber: "PHCHILD00001", Operation: payhook.OpRefund,
		Amount: 1000, State: payhook.ChildRefunded, Success: true, CreatedAt: base,
		GatewayResponse: json.RawMessage(`{"reference_number":"GW-OWN-REF"}`)}
	st := payhook.DefaultSettings("k-0123456789")
	note := func(kind payhook.Kind, tree map[string]any, format string) *payhook.Notification {
		st.Format = format
		body, ct, err := payload.Encode(tree, st)
		require.NoError(t, err)
		return &payhook.Notification{ID: payhook.NewNotificationID(), Kind: kind, SessionID: txn.SessionID,
			ReferenceNumber: txn.ReferenceNumber, URL: "https://merchant.example/hook", Status: payhook.StatusDelivered,
			CreatedAt: base, UpdatedAt: base, Body: body, ContentType: ct, NextAttemptAt: base}
	}
	opJSON := note(payhook.KindOperation, payload.Operation(txn, child, base), payhook.FormatJSON)
	opXML := note(payhook.KindOperation, payload.Operation(txn, child, base), payhook.FormatXML)
	pay := note(payhook.KindPayment, payload.Payment(txn, base), payhook.FormatJSON)
	require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{opJSON, opXML, pay}, payhook.Lease{}))
	_, err = postgres.Pool(s).Exec(ctx, `DELETE FROM schema_migrations WHERE name = 'migration/0006_operation_notification_reference.sql'`)
	require.NoError(t, err)
	s.Close()

	n, err := postgres.Migrate(ctx, dbURL)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	s2 := open(t, dbURL)
	for _, c := range []struct {
		n    *payhook.Notification
		want string
	}{{opJSON, "PHCHILD00001"}, {opXML, "PHCHILD00001"}, {pay, txn.ReferenceNumber}} {
		got, err := s2.Notification(ctx, c.n.ID)
		require.NoError(t, err)
		require.Equal(t, c.want, got.ReferenceNumber, "%s %s", c.n.Kind, c.n.ContentType)
	}
}
