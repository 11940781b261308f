package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/pgtest"
	"github.com/payhook/payhook/postgres"
)

// The benchmarks run the hot paths from many goroutines (64 on two CPUs), as many
// requests and delivery workers do, through the writer ("batched": group commit) and
// without it ("unbatched": each write its own transaction, as a pool of connections
// would run them):
//
//	PAYHOOK_TEST_POSTGRES=postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable \
//	  go test ./postgres/ -run '^$' -bench . -benchtime 3s -count 5
//
// Medians of 5 runs on the 2-CPU development box (PostgreSQL 15 on the same box,
// fsync=on, other test suites running beside it, so the spread is wide), batched vs
// unbatched: RecordAttempt 10,900 vs 3,100 ops/s; ClaimDue (claim 10, record each)
// 4,300 vs 2,100 notifications/s; ApplyChange (with its CreateTransaction) 3,400 vs
// 2,300 (one statement per round trip) payments/s; PaymentCycle 3,200 vs 1,250
// payments/s; DeliveryCycle 11,700 vs 3,500 deliveries/s. In a quieter moment:
// RecordAttempt 22,000 vs 6,500; ApplyChange 8,400 vs 3,500; PaymentCycle 3,500 vs 1,300;
// DeliveryCycle 11,700 vs 4,600.

const benchParallelism = 32 // goroutines per CPU

var modes = []struct {
	name    string
	batched bool
}{{"batched", true}, {"unbatched", false}}

func benchStore(b *testing.B, batched bool) *postgres.Store {
	b.Helper()
	s := open(b, pgtest.URL(b))
	if !batched {
		postgres.SetUnbatched(s)
	}
	return s
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// addLeased stores n pending notifications leased to owner for a long time.
func addLeased(b *testing.B, s *postgres.Store, n int, owner string) []*payhook.Notification {
	b.Helper()
	notes := pendingNotes(n)
	for i := 0; i < n; i += 100 {
		if err := s.AddNotifications(context.Background(), notes[i:min(n, i+100)], lease(owner, 24*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	return notes
}

// BenchmarkRecordAttempt records attempts (a retry scheduled: the notification stays
// pending) of 1,000 leased notifications.
func BenchmarkRecordAttempt(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			s := benchStore(b, m.batched)
			notes := addLeased(b, s, 1000, "bench")
			ctx := context.Background()
			var next atomic.Int64
			a := payhook.Attempt{StartedAt: base, Duration: 3 * time.Millisecond, Error: "timeout"}
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := notes[int(next.Add(1))%len(notes)]
					if err := s.RecordAttempt(ctx, n.ID, a, payhook.StatusPending, base.Add(time.Hour), lease("bench", 24*time.Hour)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b, "ops/s")
		})
	}
}

// BenchmarkClaimDue is a sweep's work (retries due, or what a crash left): claim up to 10
// due notifications, record each delivered. Every caller claims its own, never another's.
func BenchmarkClaimDue(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			s := benchStore(b, m.batched)
			ctx := context.Background()
			copyDue(b, s, 10*b.N+1000)
			l := lease("bench", time.Hour)
			now := base.Add(time.Hour)
			var delivered atomic.Int64
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					claimed, err := s.ClaimDue(ctx, now, l, 10)
					if err != nil {
						b.Error(err)
						return
					}
					for _, n := range claimed {
						if err := s.RecordAttempt(ctx, n.ID, payhook.Attempt{Number: 1, StartedAt: now, Duration: time.Millisecond,
							StatusCode: 200}, payhook.StatusDelivered, time.Time{}, l); err != nil {
							b.Error(err)
							return
						}
					}
					delivered.Add(int64(len(claimed)))
				}
			})
			b.ReportMetric(float64(delivered.Load())/b.Elapsed().Seconds(), "notifications/s")
		})
	}
}

// copyDue stores n pending, unleased notifications, due one microsecond apart (COPY: the
// setup is not what is measured).
func copyDue(b *testing.B, s *postgres.Store, n int) {
	b.Helper()
	rows := make([][]any, n)
	for i, note := range pendingNotes(n) {
		due := base.Add(time.Duration(i) * time.Microsecond).UnixMicro()
		rows[i] = []any{note.ID, string(note.Kind), note.SessionID, note.ReferenceNumber, note.URL, string(note.Status),
			"", false, due, due, note.Body, note.ContentType, int32(0), due}
	}
	_, err := postgres.Pool(s).CopyFrom(context.Background(), pgx.Identifier{"notifications"},
		[]string{"id", "kind", "session_id", "reference_number", "url", "status", "reason", "redirect_decider",
			"created_at", "updated_at", "body", "content_type", "round_attempts", "next_attempt_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := postgres.Pool(s).Exec(context.Background(), `ANALYZE notifications`); err != nil {
		b.Fatal(err)
	}
}

// paidChange is the change that records txn's payment with one notification leased to
// the storing process.
func paidChange(txn *payhook.Transaction) payhook.Change {
	paid := *txn
	paid.State, paid.UpdatedAt = payhook.StatePaid, base.Add(time.Minute)
	n := pendingNotes(1)[0]
	n.SessionID, n.ReferenceNumber = txn.SessionID, txn.ReferenceNumber
	return payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StateCreated}, Unchanged: txn.UpdatedAt,
		Notifications: []*payhook.Notification{n}, Lease: lease("bench", time.Hour)}
}

// BenchmarkApplyChange creates a transaction and records its payment with one
// notification: the store's ApplyChange (an op of the writer: locked, decided and
// written with the other ops of its batch, two pipelined round trips and one commit for
// all) against the same statements sent one by one, each change its own transaction.
func BenchmarkApplyChange(b *testing.B) {
	for _, m := range []struct {
		name  string
		apply func(s *postgres.Store, ch payhook.Change) error
	}{
		{"writer", func(s *postgres.Store, ch payhook.Change) error { return s.ApplyChange(context.Background(), ch) }},
		{"one-by-one", func(s *postgres.Store, ch payhook.Change) error {
			return applyOneByOne(context.Background(), postgres.Pool(s), ch)
		}},
	} {
		b.Run(m.name, func(b *testing.B) {
			s := benchStore(b, true)
			ctx := context.Background()
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					txn := newTxn()
					if err := s.CreateTransaction(ctx, txn); err != nil {
						b.Error(err)
						return
					}
					if err := m.apply(s, paidChange(txn)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b, "payments/s")
		})
	}
}

// applyOneByOne is ApplyChange as the obvious code writes it (no claim, no child): each
// statement a round trip of its own.
func applyOneByOne(ctx context.Context, pool *pgxpool.Pool, ch payhook.Change) error {
	t := ch.Transaction
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var state, claim string
		var updated int64
		if err := tx.QueryRow(ctx, `SELECT state, claim_id, updated_at FROM transactions WHERE session_id = $1 FOR UPDATE`,
			t.SessionID).Scan(&state, &claim, &updated); err != nil {
			return err
		}
		if claim != "" || payhook.State(state) != ch.From[0] || updated != ch.Unchanged.UnixMicro() {
			return errors.New("conflict")
		}
		if _, err := tx.Exec(ctx, `UPDATE transactions SET state = $1, updated_at = $2, expires_at = $3, doc = $4, claim_id = ''
			WHERE session_id = $5`, string(t.State), t.UpdatedAt.UnixMicro(), t.ExpiresAt.UnixMicro(), doc, t.SessionID); err != nil {
			return err
		}
		for _, n := range ch.Notifications {
			if _, err := tx.Exec(ctx, `INSERT INTO notifications (id, kind, session_id, reference_number, url, status, reason,
				redirect_decider, created_at, updated_at, body, content_type, round_attempts, next_attempt_at, lease_owner, lease_until)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
				n.ID, string(n.Kind), n.SessionID, n.ReferenceNumber, n.URL, string(n.Status), string(n.Reason), n.RedirectDecider,
				n.CreatedAt.UnixMicro(), n.UpdatedAt.UnixMicro(), n.Body, n.ContentType, n.RoundAttempts, n.NextAttemptAt.UnixMicro(),
				ch.Lease.Owner, ch.Lease.Until.UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkPaymentCycle is what the store does for one payment paid on the sandbox and
// notified: the checkout's transaction created, the claim taken, the sandbox's ledger
// written, the outcome applied with its notification, the delivery's attempt recorded.
func BenchmarkPaymentCycle(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			s := benchStore(b, m.batched)
			ctx := context.Background()
			var seq atomic.Int64
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := paymentCycle(ctx, s, fmt.Sprintf("PG-%d", seq.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b, "payments/s")
		})
	}
}

func paymentCycle(ctx context.Context, s *postgres.Store, ref string) error {
	txn := newTxn()
	if err := s.CreateTransaction(ctx, txn); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	claim := &payhook.Claim{ID: ref, SessionID: txn.SessionID, Kind: payhook.ClaimPayment, Owner: "bench",
		Until: base.Add(time.Minute), CreatedAt: base, From: []payhook.State{payhook.StateCreated}, Unchanged: txn.UpdatedAt,
		PGCode: "credit-card", Card: &payhook.Card{Masked: "411111******1111", Expiry: "12/39"}}
	if err := s.Claim(ctx, claim); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if _, err := s.RecordGatewayCall(ctx, &payhook.GatewayCall{Reference: ref, SessionID: txn.SessionID, Kind: "purchase",
		Amount: txn.Amount, Currency: txn.Currency, Success: true, Result: []byte(`{"result":"CAPTURED"}`), CreatedAt: base}); err != nil {
		return fmt.Errorf("gateway call: %w", err)
	}
	ch := paidChange(txn)
	ch.Claim, ch.ClaimOwner = ref, "bench"
	if err := s.ApplyChange(ctx, ch); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	n := ch.Notifications[0]
	return s.RecordAttempt(ctx, n.ID, payhook.Attempt{Number: 1, StartedAt: base.Add(time.Minute), Duration: time.Millisecond,
		StatusCode: 200}, payhook.StatusDelivered, time.Time{}, ch.Lease)
}

// BenchmarkDeliveryCycle is what the store does for one notification delivered at
// once: stored (leased to this process, as the hand-off does), its attempt recorded.
func BenchmarkDeliveryCycle(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			s := benchStore(b, m.batched)
			ctx := context.Background()
			l := lease("bench", time.Hour)
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := pendingNotes(1)
					if err := s.AddNotifications(ctx, n, l); err != nil {
						b.Error(err)
						return
					}
					if err := s.RecordAttempt(ctx, n[0].ID, payhook.Attempt{Number: 1, StartedAt: base, Duration: time.Millisecond,
						StatusCode: 200}, payhook.StatusDelivered, time.Time{}, l); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b, "deliveries/s")
		})
	}
}
