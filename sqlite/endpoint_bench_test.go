package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/payhook/payhook/sqlite"
)

// BenchmarkEndpointStats times the endpoint health figures over a day of 100,000
// notifications (1.2 kB bodies) to 20 URLs, each with one attempt and one in ten with a
// second, seeded straight into the tables:
//
//	go test ./sqlite/ -run '^$' -bench EndpointStats -benchtime 10x
func BenchmarkEndpointStats(b *testing.B) {
	const notes = 100_000
	path := filepath.Join(b.TempDir(), "payhook.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	until := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	since := until.Add(-24 * time.Hour)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	step := 24 * time.Hour.Microseconds() / notes
	_, err = db.Exec(`WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < ? - 1)
		INSERT INTO notifications (id, kind, session_id, reference_number, url, status, reason, redirect_decider,
			created_at, updated_at, body, content_type, round_attempts, attempt_count, next_attempt_at)
		SELECT printf('note-%06d', n), 'payment', printf('s%06d', n), 'PHREF', printf('https://m%02d.example/hook', n % 20),
			CASE WHEN n % 10 = 3 THEN 'failed' ELSE 'delivered' END, '', 0, ? + n * ?, ? + n * ?,
			randomblob(1200), 'application/json', 1, 1, 0 FROM i`, notes, since.UnixMicro(), step, since.UnixMicro(), step)
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
		SELECT id, 1, created_at, 1000 + abs(random() % 300000), CASE WHEN status = 'failed' THEN 500 ELSE 200 END, '', 'ok'
		FROM notifications`)
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
		SELECT id, 2, created_at + 1000, 15000000, 0, 'timeout after 15s', '' FROM notifications WHERE status = 'failed'`)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		got, err := s.EndpointStats(context.Background(), since, until)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != 20 || got[0].Sent != notes/20 {
			b.Fatalf("got %d URLs, the first with %d sent", len(got), got[0].Sent)
		}
	}
}
