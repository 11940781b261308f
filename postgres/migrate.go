package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migration/*.sql
var migrations embed.FS

// migrationLock is the session-level advisory lock held while migrations run, so that
// two processes starting at once apply each migration once (the text spells "payhook
// migrate").
const migrationLock = int64(0x7061796d69677261)

// Migrate applies the pending migrations to the database at url and reports how many ran.
func Migrate(ctx context.Context, url string) (int, error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return 0, err
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// migrate applies, in name order, each embedded migration not applied yet, each in its
// own transaction together with its record in schema_migrations, and reports how many
// ran. A database whose migrations are all applied is only read (a read-only database
// opens); otherwise the work runs under migrationLock, and the applied ones are read
// again once it is held.
func migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	names, err := fs.Glob(migrations, "migration/*.sql")
	if err != nil {
		return 0, err
	}
	sort.Strings(names)
	c, err := pool.Acquire(ctx)
	if err != nil {
		return 0, unavailable(fmt.Errorf("postgres: connect: %w", err))
	}
	defer c.Release()
	conn := c.Conn()

	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return 0, err
	}
	if pending(names, applied) == 0 {
		return 0, nil
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return 0, unavailable(fmt.Errorf("migrations: lock: %w", err))
	}
	defer func() {
		// Closing the session (a broken connection) releases the lock too.
		conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, unavailable(fmt.Errorf("migrations table: %w", err))
	}
	if applied, err = appliedMigrations(ctx, conn); err != nil {
		return 0, err
	}
	ran := 0
	for _, name := range names {
		if applied[name] {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return ran, err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// The simple protocol runs the file's statements as they are written.
			if err := tx.Conn().PgConn().Exec(ctx, string(body)).Close(); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		})
		if err != nil {
			return ran, unavailable(fmt.Errorf("migration %s: %w", name, err))
		}
		ran++
	}
	return ran, nil
}

// appliedMigrations returns the names recorded in schema_migrations (none when the
// table does not exist yet).
func appliedMigrations(ctx context.Context, conn *pgx.Conn) (map[string]bool, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, unavailable(fmt.Errorf("migrations: %w", err))
	}
	applied := map[string]bool{}
	if !exists {
		return applied, nil
	}
	rows, err := conn.Query(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("migrations: %w", err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, unavailable(fmt.Errorf("migrations: %w", err))
	}
	for _, n := range names {
		applied[n] = true
	}
	return applied, nil
}

func pending(names []string, applied map[string]bool) int {
	n := 0
	for _, name := range names {
		if !applied[name] {
			n++
		}
	}
	return n
}
