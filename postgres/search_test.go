package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/pgtest"
)

// A database from before migration 0004 finds its existing transactions by part of their
// customer's email and by their children's references once migrated.
func TestMigrate_0004FindsExistingTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	s := open(t, dbURL)
	now := time.Now().UTC().Truncate(time.Microsecond)
	txn := &payhook.Transaction{SessionID: "old-1", ReferenceNumber: "PHOLD1", OrderNo: "INV-9", Type: payhook.PluginECommerce,
		Origin: payhook.OriginAPI, State: payhook.StatePaid, Amount: 86000, PaidAmount: 86000, Currency: "KWD",
		Customer: payhook.Customer{Email: "Old.Customer@Shop.example"}, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	require.NoError(t, s.CreateTransaction(ctx, txn))
	next := *txn
	next.RefundedAmount, next.UpdatedAt = 1000, now.Add(time.Second)
	child := &payhook.Child{SessionID: "old-child", ReferenceNumber: "PHOLDCHILD", Operation: payhook.OpRefund, Amount: 1000,
		State: payhook.ChildRefunded, Success: true, CreatedAt: now}
	require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: &next, From: []payhook.State{payhook.StatePaid}, Child: child}))
	require.NoError(t, s.Close())

	// As the database was before 0004.
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	for _, stmt := range []string{
		`DROP INDEX transactions_search`, `DROP INDEX children_reference`, `DROP INDEX notifications_unsettled`,
		`ALTER TABLE transactions DROP COLUMN customer_email`,
		`CREATE INDEX transactions_created ON transactions (created_at)`,
		`DELETE FROM schema_migrations WHERE name = 'migration/0004_finding_things.sql'`,
	} {
		_, err := admin.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, admin.Close(ctx))

	s = open(t, dbURL)
	for _, q := range []string{"old.customer@", "SHOP.EXAMPLE", "inv-9", "PHOLDCHILD", "old-child"} {
		list, n, err := s.ListTransactions(ctx, payhook.TransactionFilter{Query: q})
		require.NoError(t, err, q)
		require.Equal(t, 1, n, q)
		require.Equal(t, "old-1", list[0].SessionID, q)
	}
}
