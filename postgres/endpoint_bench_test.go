package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payhook/payhook/internal/pgtest"
)

// BenchmarkEndpointStats times the endpoint health figures over a day of 100,000
// notifications (1.2 kB bodies) to 20 URLs, each with one attempt and one in ten with a
// second, seeded straight into the tables:
//
//	PAYHOOK_TEST_POSTGRES=… go test ./postgres/ -run '^$' -bench EndpointStats -benchtime 10x
func BenchmarkEndpointStats(b *testing.B) {
	const notes = 100_000
	ctx := context.Background()
	url := pgtest.URL(b)
	s := open(b, url)
	until := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	since := until.Add(-24 * time.Hour)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	step := 24 * time.Hour.Microseconds() / notes
	for _, q := range []string{
		`INSERT INTO notifications (id, kind, session_id, reference_number, url, status, reason, redirect_decider,
			created_at, updated_at, body, content_type, round_attempts, attempt_count, next_attempt_at)
		SELECT format('note-%s', lpad(n::text, 6, '0')), 'payment', format('s%s', n), 'PHREF', format('https://m%s.example/hook', lpad((n % 20)::text, 2, '0')),
			CASE WHEN n % 10 = 3 THEN 'failed' ELSE 'delivered' END, '', false, $2::bigint + n * $3::bigint, $2::bigint + n * $3::bigint,
			decode(repeat(md5(n::text), 38), 'hex'), 'application/json', 1, 1, 0 FROM generate_series(0, $1::int - 1) n`,
		`INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
		SELECT id, 1, created_at, 1000 + (random() * 300000)::bigint, CASE WHEN status = 'failed' THEN 500 ELSE 200 END, '', 'ok'
		FROM notifications`,
		`INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
		SELECT id, 2, created_at + 1000, 15000000, 0, 'timeout after 15s', '' FROM notifications WHERE status = 'failed'`,
		`ANALYZE`,
	} {
		var args []any
		if q[:6] == "INSERT" && q[12:25] == "notifications" {
			args = []any{notes, since.UnixMicro(), step}
		}
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		got, err := s.EndpointStats(ctx, since, until)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != 20 || got[0].Sent != notes/20 {
			b.Fatalf("got %d URLs, the first with %d sent", len(got), got[0].Sent)
		}
	}
}
