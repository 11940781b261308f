package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/sqlite"
)

// A database from before migration 0007 finds its existing transactions by part of their
// customer's email and by their children's references once migrated.
func TestMigrate_0007FindsExistingTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payhook.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
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

	// As the database was before 0007.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, stmt := range []string{
		`DROP INDEX transactions_search`, `DROP INDEX children_reference`, `DROP INDEX notifications_unsettled`,
		`ALTER TABLE transactions DROP COLUMN customer_email`, `ALTER TABLE children DROP COLUMN reference_number`,
		`CREATE INDEX transactions_created ON transactions (created_at)`,
		`DELETE FROM schema_migrations WHERE name = 'migration/0007_finding_things.sql'`,
	} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	for _, q := range []string{"old.customer@", "SHOP.EXAMPLE", "inv-9", "PHOLDCHILD", "old-child"} {
		list, n, err := s.ListTransactions(ctx, payhook.TransactionFilter{Query: q})
		require.NoError(t, err, q)
		require.Equal(t, 1, n, q)
		require.Equal(t, "old-1", list[0].SessionID, q)
	}
}
