package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/payhook/payhook"
)

//go:embed migration/*.sql
var migrations embed.FS

func appliedCount(ctx context.Context, conn *sql.Conn) (int, error) {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		return 0, fmt.Errorf("migrations table: %w", err)
	}
	var n int
	err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	return n, err
}

// migrate applies, in name order, each embedded migration not applied yet, each in its
// own transaction together with its record.
func migrate(ctx context.Context, conn *sql.Conn) error {
	if _, err := appliedCount(ctx, conn); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var done int
		if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&done); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if done > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		for _, stmt := range splitSQL(string(body)) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				conn.ExecContext(ctx, "ROLLBACK")
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, name); err != nil {
			conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return moveChildrenToRows(ctx, conn)
}

// moveChildrenToRows is a migration in Go, run once: before children were rows of their
// own (0004), a transaction's refunds, captures and voids lived inside its document; they
// move to the children table, and the documents lose them.
func moveChildrenToRows(ctx context.Context, conn *sql.Conn) error {
	const name = "go/0004_children_rows"
	var done int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&done); err != nil || done > 0 {
		return err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	fail := func(err error) error {
		conn.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("migration %s: %w", name, err)
	}
	rows, err := conn.QueryContext(ctx, `SELECT session_id, doc FROM transactions WHERE doc LIKE '%"children":%'`)
	if err != nil {
		return fail(err)
	}
	type legacy struct {
		id  string
		doc []byte
	}
	var list []legacy
	for rows.Next() {
		var l legacy
		if err := rows.Scan(&l.id, &l.doc); err != nil {
			rows.Close()
			return fail(err)
		}
		list = append(list, l)
	}
	rows.Close()
	for _, l := range list {
		var t payhook.Transaction
		if err := json.Unmarshal(l.doc, &t); err != nil {
			return fail(fmt.Errorf("decode transaction %s: %w", l.id, err))
		}
		for i, c := range t.Children {
			b, err := json.Marshal(c)
			if err != nil {
				return fail(err)
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO children (session_id, parent_session_id, seq, doc) VALUES (?, ?, ?, ?)
				ON CONFLICT (session_id) DO NOTHING`, c.SessionID, l.id, i+1, b); err != nil {
				return fail(err)
			}
		}
		doc, err := marshalTransaction(&t)
		if err != nil {
			return fail(err)
		}
		if _, err := conn.ExecContext(ctx, `UPDATE transactions SET doc = ? WHERE session_id = ?`, doc, l.id); err != nil {
			return fail(err)
		}
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, name); err != nil {
		return fail(err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fail(err)
	}
	return nil
}

// splitSQL splits a migration into statements at semicolons ending a line. Migrations
// keep to that rule (no semicolons inside literals at line ends).
func splitSQL(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}
