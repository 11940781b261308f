package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/pgtest"
)

func TestBench_RefusesFlagsItCannotHonour(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--processes", "2"}, "--processes 2 needs --database postgres://"},
		{[]string{"--database", "bench.db"}, "want a postgres:// URL"},
		{[]string{"--scenario", "refunds"}, `unknown --scenario "refunds"`},
		{[]string{"--runs", "0"}, "--runs must be at least 1"},
		{[]string{"--refunds-per-parent", "-1"}, "cannot be negative"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"bench"}, tc.args...), nil, &stdout, &stderr)
		require.Equal(t, 2, code, "%v", tc.args)
		require.Contains(t, stderr.String(), tc.want, "%v", tc.args)
	}
}

func TestBench_MedianOfRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tc.in...)
		require.Equal(t, tc.want, median(tc.in))
		require.Equal(t, in, tc.in, "median must not reorder its input")
	}
	var out bytes.Buffer
	printMedians(&out, []benchFigures{
		{{"delivered/s", 2000, "/s"}, {"p99", 4, "ms"}},
		{{"delivered/s", 3000, "/s"}, {"p99", 2, "ms"}},
		{{"delivered/s", 2500, "/s"}, {"p99", 9, "ms"}},
	})
	require.Equal(t, "  delivered/s        2500/s   (runs: 2000/s, 3000/s, 2500/s)\n"+
		"  p99               4.00 ms   (runs: 4.00 ms, 2.00 ms, 9.00 ms)\n", out.String())
}

func TestBench_ProfilePerRunAndProcess(t *testing.T) {
	t.Parallel()
	o := benchOptions{cpuProfile: "/tmp/cpu.prof", runs: 1, processes: 1}
	require.Equal(t, "/tmp/cpu.prof", profilePath(o, 1, 0))
	o.runs, o.processes = 3, 2
	require.Equal(t, "/tmp/cpu-r2-p2.prof", profilePath(o, 2, 1))
}

func TestBench_OnAnotherProcess(t *testing.T) {
	t.Parallel()
	c := &benchClient{bases: []string{"http://127.0.0.1:1000", "http://127.0.0.1:1001"}}
	u := "http://127.0.0.1:1000/b/checkout/redirect/start/?session_id=abc"
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		seen[c.onAnother(u)] = true
	}
	require.Equal(t, map[string]bool{u: true, "http://127.0.0.1:1001/b/checkout/redirect/start/?session_id=abc": true}, seen)
}

func TestBench_OperationParents(t *testing.T) {
	t.Parallel()
	o := benchOptions{concurrency: 64, duration: 10 * time.Second, urls: 100}
	require.Equal(t, 2000, opParents(o), "cycling: 2,000 as before")
	o.refundsPerParent = 100
	require.Equal(t, 2000, opParents(o))
	o.refundsPerParent = 1
	require.Equal(t, 50064, opParents(o), "one fresh parent per refund at 5,000/s, plus one per client")
	o.parents = 300
	require.Equal(t, 300, opParents(o))
}

// The scenarios end to end on SQLite, briefly: the real binary, real ports.
func TestBench_PaymentsOnSQLite(t *testing.T) {
	bin := payhookBinary(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--binary", bin, "--runs", "2", "--duration", "500ms", "--paced-duration", "500ms", "--rate", "100",
		"--concurrency", "8"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	out := stdout.String()
	require.Contains(t, out, "store SQLite (WAL, synchronous=FULL)")
	require.Contains(t, out, "1 payhook serve process")
	require.Contains(t, out, "medians of 2 run(s): scenario payments, SQLite, 1 payhook serve process")
	require.Contains(t, out, "added by the notification (with - without), p99")
	require.Contains(t, out, "pay round trip at 100/s without a webhook, p50")
}

func TestBench_OperationsRefundsPerParentOnSQLite(t *testing.T) {
	bin := payhookBinary(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--binary", bin, "--scenario", "operations", "--runs", "1", "--duration", "1s", "--paced-duration", "300ms",
		"--concurrency", "4", "--urls", "5", "--parents", "20", "--refunds-per-parent", "3"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	out := stdout.String()
	require.Contains(t, out, "refunds 3 per transaction")
	require.Contains(t, out, "operation notifications delivered/s")
	// 20 parents of 3 refunds each run out well within the second: the phase ends early.
	require.Contains(t, out, "20 transactions used")
	require.Contains(t, out, "ran out before --duration")
}

func TestBench_TwoProcessesOnPostgres(t *testing.T) {
	database := pgtest.URL(t)
	bin := payhookBinary(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--binary", bin, "--database", database, "--processes", "2", "--runs", "1",
		"--scenario", "operations", "--duration", "1s", "--paced-duration", "300ms", "--concurrency", "4", "--urls", "5", "--parents", "20"},
		nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	out := stdout.String()
	require.Contains(t, out, "store PostgreSQL")
	require.Contains(t, out, "a fresh database per run")
	require.Contains(t, out, "medians of 1 run(s): scenario operations, PostgreSQL, 2 payhook serve processes")

	stdout.Reset()
	code = run([]string{"bench", "--binary", bin, "--database", database, "--processes", "2", "--runs", "1",
		"--duration", "500ms", "--paced-duration", "300ms", "--rate", "100", "--concurrency", "4"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "medians of 1 run(s): scenario payments, PostgreSQL, 2 payhook serve processes")
}
