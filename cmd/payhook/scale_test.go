package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/pgtest"
)

// cluster is N "payhook serve" processes on one PostgreSQL database.
type cluster struct {
	t     *testing.T
	db    string
	args  []string
	mu    sync.Mutex
	procs []*server
	kills int
}

func (c *cluster) live() []*server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*server
	for _, p := range c.procs {
		select {
		case <-p.done:
		default:
			out = append(out, p)
		}
	}
	return out
}

func (c *cluster) pick() *server {
	for {
		if l := c.live(); len(l) > 0 {
			return l[rand.IntN(len(l))]
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killAndRestart SIGKILLs process i and starts a new one in its place.
func (c *cluster) killAndRestart(i int) {
	c.mu.Lock()
	p := c.procs[i]
	c.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	c.mu.Lock()
	c.kills++
	c.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	np := startServe(c.t, c.db, c.args...)
	c.mu.Lock()
	c.procs[i] = np
	c.mu.Unlock()
}

// call sends one API request to p; a connection error (p was killed) is returned, not fatal.
func call(p *server, method, path string, body any, header map[string]string) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Api-Key "+crashAPIKey)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestServe_ThreeProcessesOnPostgresSurviveSIGKILLs: three payhook processes on one
// PostgreSQL database serve 500 payments and 5,000 refunds spread over all three while a
// random one is SIGKILLed and restarted 3 times. Then: no notification lost (every one
// delivered, the merchant got each webhook-id), no payment approved by the gateway but
// unrecorded, no refund made twice (the sandbox's ledger counts the gateway's calls),
// and duplicates only for attempts in flight at the kills (counted and printed).
func TestServe_ThreeProcessesOnPostgresSurviveSIGKILLs(t *testing.T) {
	dbURL := pgtest.URL(t)
	const payments, refundsPerPayment = 500, 10
	var received sync.Map // webhook-id → *atomic.Int32
	var hangOnce sync.Once
	hung := make(chan struct{})
	release := make(chan struct{})
	merchantSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		id := r.Header.Get("webhook-id")
		v, _ := received.LoadOrStore(id, new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
		if r.URL.Path == "/hang" {
			first := false
			hangOnce.Do(func() { first = true })
			if first { // the process that sent it dies while we "answer"
				close(hung)
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer merchantSrv.Close()
	defer close(release)
	hook := merchantSrv.URL + "/webhook"

	c := &cluster{t: t, db: dbURL, args: []string{"--lease-ttl", "1s", "--claim-timeout", "1s"}}
	for range 3 {
		c.procs = append(c.procs, startServe(t, dbURL, c.args...))
	}
	c.procs[0].configure(map[string]any{"operations_webhook_url": "", "timeout": 2, "backoff_factor": 0.2, "retries": 3})
	time.Sleep(1100 * time.Millisecond) // the other processes' cached configuration (1 s) expires

	// A payment whose pay request was served by a process that dies while the merchant is
	// answering is delivered by another.
	{
		p := c.procs[1]
		m := p.api("POST", "/b/checkout/v1/pymt-txn/", map[string]any{"type": "e_commerce", "amount": "86.000",
			"currency_code": "KWD", "pg_codes": []string{"credit-card"}, "webhook_url": merchantSrv.URL + "/hang"}, http.StatusCreated)
		sid := m["session_id"].(string)
		paid := pay(m["checkout_url"].(string), 30*time.Second)
		select {
		case <-hung:
		case <-time.After(20 * time.Second):
			t.Fatalf("the merchant never got the payment notification of %s", sid)
		}
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		<-p.done
		<-paid
		other := c.procs[2]
		n := other.waitDelivered(sid, 20*time.Second)
		require.Equal(t, "paid", other.api("GET", "/b/checkout/v1/pymt-txn/"+sid+"/", nil, http.StatusOK)["state"])
		require.Equal(t, "delivered", n["status"])
		c.procs[1] = startServe(t, dbURL, c.args...)
		t.Logf("the payment of a process killed while the merchant answered was delivered by another")
	}

	// The load, spread over the three, with 3 random kills on the way.
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		parents   []string
		retried   atomic.Int64
		refundsOK atomic.Int64
	)
	stopKiller := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for range 3 {
			select {
			case <-stopKiller:
				return
			case <-time.After(time.Duration(1500+rand.IntN(1500)) * time.Millisecond):
			}
			c.killAndRestart(rand.IntN(3))
		}
	}()
	work := make(chan int)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				// Checkout and pay, retrying on another process when one dies under us.
				var sid, checkoutURL string
				for sid == "" {
					code, b, err := call(c.pick(), "POST", "/b/checkout/v1/pymt-txn/", map[string]any{"type": "e_commerce",
						"amount": "86.000", "currency_code": "KWD", "pg_codes": []string{"credit-card"}, "webhook_url": hook,
						"order_no": fmt.Sprintf("scale-%d", i)}, nil)
					if err != nil || code != http.StatusCreated {
						retried.Add(1)
						continue
					}
					var m map[string]any
					json.Unmarshal(b, &m)
					sid, checkoutURL = m["session_id"].(string), m["checkout_url"].(string)
				}
				for {
					u, _ := url.Parse(checkoutURL)
					pu := c.pick().base + u.RequestURI()
					if err := <-pay(pu, 30*time.Second); err == nil {
						break
					}
					retried.Add(1)
					// The process may have died after recording: paid is final.
					code, b, err := call(c.pick(), "GET", "/b/checkout/v1/pymt-txn/"+sid+"/", nil, nil)
					if err == nil && code == 200 && strings.Contains(string(b), `"state":"paid"`) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				mu.Lock()
				parents = append(parents, sid)
				mu.Unlock()
				for k := range refundsPerPayment {
					key := fmt.Sprintf("refund-%s-%d", sid, k)
					for {
						code, b, err := call(c.pick(), "POST", "/b/pbl/v2/operation/", map[string]any{"operation": "refund",
							"session_id": sid, "amount": "1.000"}, map[string]string{"Tracking-Key": key})
						if err == nil && code == http.StatusOK && strings.Contains(string(b), `"result":"success"`) {
							refundsOK.Add(1)
							break
						}
						if err == nil && code != http.StatusOK && code != http.StatusConflict && code < 500 {
							t.Errorf("refund %s: %d %s", key, code, b)
							break
						}
						retried.Add(1)
						time.Sleep(50 * time.Millisecond)
					}
				}
			}
		}()
	}
	start := time.Now()
	for i := range payments {
		work <- i
		if i%50 == 0 {
			t.Logf("%v: payment %d, refunds %d, retries %d, kills %d", time.Since(start).Round(time.Millisecond), i, refundsOK.Load(), retried.Load(), c.kills)
		}
	}
	close(work)
	wg.Wait()
	close(stopKiller)
	<-killerDone
	require.Equal(t, int64(payments*refundsPerPayment), refundsOK.Load())

	// Everything is delivered in the end, by whichever processes live.
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, b, err := call(c.pick(), "GET", "/b/webhook/v1/notifications/?status=pending&limit=1", nil, nil)
		if err == nil && code == 200 && strings.Contains(string(b), `"count":0`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "notifications still pending after 90s: %s", b)
		time.Sleep(200 * time.Millisecond)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var failed, notDelivered int
	require.NoError(t, conn.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE status = 'failed'), COUNT(*) FILTER (WHERE status <> 'delivered')
		FROM notifications WHERE url <> ''`).Scan(&failed, &notDelivered))
	require.Zero(t, notDelivered, "every notification with a URL is delivered (%d failed)", failed)
	rows, err := conn.Query(ctx, `SELECT id FROM notifications WHERE url <> ''`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	lost := 0
	for _, id := range ids {
		if _, ok := received.Load(id); !ok {
			lost++
		}
	}
	require.Zero(t, lost, "notifications the merchant never got")
	dups := 0
	received.Range(func(_, v any) bool {
		if v.(*atomic.Int32).Load() > 1 {
			dups++
		}
		return true
	})

	// The gateway's ledger against payhook's records.
	var unrecorded int
	require.NoError(t, conn.QueryRow(ctx, `SELECT COUNT(*) FROM gateway_calls g JOIN transactions t ON t.session_id = g.session_id
		WHERE g.kind = 'purchase' AND g.success AND t.state NOT IN ('paid', 'refunded')`).Scan(&unrecorded))
	require.Zero(t, unrecorded, "payments approved by the gateway but not recorded")
	var approvals, paidParents int
	require.NoError(t, conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT session_id) FROM gateway_calls WHERE kind = 'purchase' AND success`).Scan(&approvals, &paidParents))
	require.Equal(t, paidParents, approvals, "no checkout was approved twice")
	var gatewayRefunds, childRefunds int
	require.NoError(t, conn.QueryRow(ctx, `SELECT COUNT(*) FROM gateway_calls WHERE kind = 'refund' AND success`).Scan(&gatewayRefunds))
	require.NoError(t, conn.QueryRow(ctx, `SELECT COUNT(*) FROM children`).Scan(&childRefunds))
	require.Equal(t, payments*refundsPerPayment, gatewayRefunds, "refunds the gateway made: one per Tracking-Key, none twice")
	require.Equal(t, gatewayRefunds, childRefunds, "every refund the gateway made is recorded")
	for _, sid := range parents[:20] {
		code, b, err := call(c.pick(), "GET", "/b/checkout/v1/pymt-txn/"+sid+"/", nil, nil)
		require.NoError(t, err)
		require.Equal(t, 200, code)
		require.Contains(t, string(b), `"state":"paid"`)
	}
	t.Logf("3 processes, %d kills (plus one mid-answer): %d payments, %d refunds, %d notifications delivered; "+
		"client retries after kills: %d; duplicate deliveries (attempts in flight at a kill): %d",
		c.kills, payments, gatewayRefunds, len(ids), retried.Load(), dups)
}

// payhook migrate works on PostgreSQL as on SQLite: every migration once, then none.
func TestMigrate_PostgreSQL(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	files, err := filepath.Glob("../../postgres/migration/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"migrate", "--database", dbURL}, strings.NewReader(""), &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), fmt.Sprintf("%d migration(s) applied", len(files)))
	stdout.Reset()
	require.Equal(t, 0, run([]string{"migrate", "--database", dbURL}, strings.NewReader(""), &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "0 migration(s) applied")
}
