package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchOptions are the flags of payhook bench.
type benchOptions struct {
	concurrency int
	duration    time.Duration
	rate        int
	paced       time.Duration
	dir         string
	binary      string
	merchant    time.Duration
	cpuProfile  string
	scenario    string
	urls        int
	runs        int
}

// runBench implements "payhook bench": it starts a fresh "payhook serve" on SQLite in a
// temporary directory and a merchant receiver on loopback, then drives the real HTTP flow
// (create a checkout through the API, pay on the checkout URL with the success card; the
// payment notification is delivered to the receiver before the 303 comes back):
//
//  1. throughput: N concurrent customers as fast as they go; prints payments/s end to end;
//  2. latency: payments started at a paced rate (open loop); prints what the synchronous
//     notification adds to the pay request over the merchant's own handling time (per
//     request, pay round trip − the receiver's handling time), p50 and p99.
func runBench(args []string, stdout, stderr io.Writer) int {
	o := benchOptions{}
	fs := flag.NewFlagSet("payhook bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent customers in the throughput phase")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the throughput phase (0 skips it)")
	fs.IntVar(&o.rate, "rate", 500, "payments started per second in the latency phase")
	fs.DurationVar(&o.paced, "paced-duration", 10*time.Second, "length of the latency phase (0 skips it)")
	fs.StringVar(&o.dir, "dir", "", "directory for the database (default: a new temporary one, removed after)")
	fs.StringVar(&o.binary, "binary", "", "payhook binary to benchmark (default: this one)")
	fs.DurationVar(&o.merchant, "merchant-delay", 0, "time the merchant's receiver takes to answer")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "have payhook serve write a CPU profile to this file")
	fs.StringVar(&o.scenario, "scenario", "payments", "what to measure: payments (checkout, pay, synchronous notification) or operations (refunds, background notifications)")
	fs.IntVar(&o.urls, "urls", 100, "operations: merchant URLs (each its own loopback port) the notifications spread over")
	fs.IntVar(&o.runs, "runs", 5, "operations: runs of the isolation comparison (healthy vs 1% of URLs hanging); medians are reported")
	if err := fs.Parse(args); err != nil {
		return usageExit(err, stderr)
	}
	if err := bench(o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "payhook bench: %v\n", err)
		return 1
	}
	return 0
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// benchReceiver is the merchant: it answers 200 and records, per checkout (the index in
// the URL path), how long it took to handle the notification.
type benchReceiver struct {
	delay    time.Duration
	handling sync.Map // index → time.Duration
	count    atomic.Int64
}

func (b *benchReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	io.Copy(io.Discard, r.Body)
	if b.delay > 0 {
		time.Sleep(b.delay)
	}
	w.WriteHeader(http.StatusOK)
	b.count.Add(1)
	b.handling.Store(strings.TrimPrefix(r.URL.Path, "/hook/"), time.Since(start))
}

type benchClient struct {
	base, key, hook string
	http            *http.Client
	seq             atomic.Int64
}

// pay creates a checkout and pays it; it returns the pay round trip and the index.
func (c *benchClient) pay(ctx context.Context) (time.Duration, string, error) {
	idx := strconv.FormatInt(c.seq.Add(1), 10)
	body := `{"type":"e_commerce","amount":"86.000","currency_code":"KWD","pg_codes":["credit-card"],` +
		`"order_no":"BENCH-` + idx + `","webhook_url":"` + c.hook + idx + `","redirect_url":"https://merchant.example/done"}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/b/checkout/v1/pymt-txn/", strings.NewReader(body))
	req.Header.Set("Authorization", "Api-Key "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, idx, err
	}
	var answer struct {
		CheckoutURL string `json:"checkout_url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil {
		return 0, idx, fmt.Errorf("checkout: status %d (%v)", resp.StatusCode, err)
	}
	form := url.Values{"card_number": {"4111111111111111"}, "card_expiry": {"12/39"}, "card_cvv": {"123"}}
	start := time.Now()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, answer.CheckoutURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.http.Do(req)
	if err != nil {
		return 0, idx, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	rtt := time.Since(start)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "https://merchant.example/done") {
		return rtt, idx, fmt.Errorf("pay: status %d, Location %q (want a 303 to redirect_url: notification delivered)", resp.StatusCode, resp.Header.Get("Location"))
	}
	return rtt, idx, nil
}

func bench(o benchOptions, stdout, stderr io.Writer) error {
	if o.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.binary = exe
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "payhook-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	// The merchant's receiver, in this process, on loopback.
	rcv := &benchReceiver{delay: o.merchant}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rsrv := &http.Server{Handler: rcv}
	go rsrv.Serve(rln)
	defer rsrv.Close()

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	key := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cmd := exec.Command(o.binary, "serve", "--addr", addr, "--database", filepath.Join(dir, "bench.db"),
		"--allow-private-urls", "--log-level", "warn")
	if o.cpuProfile != "" {
		cmd.Args = append(cmd.Args, "--cpu-profile", o.cpuProfile)
	}
	cmd.Env = append(os.Environ(), "PAYHOOK_API_KEY="+key)
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start payhook serve: %w", err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	c := &benchClient{base: "http://" + addr, key: key, hook: "http://" + rln.Addr().String() + "/hook/",
		http: &http.Client{
			Transport:     &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       2 * time.Minute,
		}}
	if err := waitReady(c.base, 10*time.Second); err != nil {
		return err
	}
	if err := benchConfigure(c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "payhook bench: payhook serve on SQLite (WAL, synchronous=FULL) at %s, receiver at %s\n", c.base, rln.Addr())
	// Warm up connections and caches.
	for i := 0; i < 50; i++ {
		if _, _, err := c.pay(context.Background()); err != nil {
			return fmt.Errorf("warm-up payment: %w", err)
		}
	}
	if o.scenario == "operations" {
		return benchOperations(c, o, stdout)
	}
	if o.scenario != "payments" {
		return fmt.Errorf("unknown --scenario %q: payments or operations", o.scenario)
	}
	if o.duration > 0 {
		if err := benchThroughput(c, o, stdout); err != nil {
			return err
		}
	}
	if o.paced > 0 && o.rate > 0 {
		if err := benchLatency(c, rcv, o, stdout); err != nil {
			return err
		}
	}
	return nil
}

func waitReady(base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("payhook serve did not become ready")
}

func benchConfigure(c *benchClient) error {
	return c.patchConfig(`{"enabled":true,"api_transactions_enabled":true,"timeout":10,"backoff_factor":1}`)
}

func (c *benchClient) patchConfig(patch string) error {
	req, _ := http.NewRequest(http.MethodPatch, c.base+"/b/webhook/v1/config/", strings.NewReader(patch))
	req.Header.Set("Authorization", "Api-Key "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("configure: status %d: %s", resp.StatusCode, b)
	}
	return nil
}

func benchThroughput(c *benchClient, o benchOptions, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var done, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < o.concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, _, err := c.pay(context.Background())
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "throughput: %d customers, %s: %d payments, %.0f payments/s end to end (checkout + pay + notification delivered + 303), %d failed\n",
		o.concurrency, elapsed.Round(time.Millisecond), done.Load(), float64(done.Load())/elapsed.Seconds(), failed.Load())
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("%d payments failed, first: %w", failed.Load(), err)
	}
	return nil
}

func benchLatency(c *benchClient, rcv *benchReceiver, o benchOptions, stdout io.Writer) error {
	n := int(o.paced.Seconds() * float64(o.rate))
	interval := time.Second / time.Duration(o.rate)
	added := make([]time.Duration, n)
	rtts := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rtt, idx, err := c.pay(context.Background())
			if err != nil {
				errs[i] = err
				return
			}
			h, _ := rcv.handling.Load(idx)
			handling, _ := h.(time.Duration)
			rtts[i], added[i] = rtt, rtt-handling
		}(i)
	}
	wg.Wait()
	var ok []time.Duration
	var okRTT []time.Duration
	failed := 0
	var first error
	for i := range added {
		if errs[i] != nil {
			failed++
			if first == nil {
				first = errs[i]
			}
			continue
		}
		ok = append(ok, added[i])
		okRTT = append(okRTT, rtts[i])
	}
	if len(ok) == 0 {
		return fmt.Errorf("no payment succeeded: %v", first)
	}
	fmt.Fprintf(stdout, "latency at a paced %d payments/s for %s (%d payments, %d failed):\n", o.rate, o.paced, len(ok), failed)
	fmt.Fprintf(stdout, "  added by the synchronous notification (pay round trip - merchant handling): p50 %s  p90 %s  p99 %s  max %s\n",
		pct(ok, 50), pct(ok, 90), pct(ok, 99), pct(ok, 100))
	fmt.Fprintf(stdout, "  pay round trip:                                                           p50 %s  p90 %s  p99 %s  max %s\n",
		pct(okRTT, 50), pct(okRTT, 90), pct(okRTT, 99), pct(okRTT, 100))
	if first != nil {
		return fmt.Errorf("%d payments failed, first: %w", failed, first)
	}
	return nil
}

// pct returns the p-th percentile (nearest rank) of ds, which it sorts.
func pct(ds []time.Duration, p float64) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*p/100+0.5) - 1
	i = max(0, min(i, len(ds)-1))
	return ds[i].Round(10 * time.Microsecond)
}
