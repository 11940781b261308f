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
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/payhook/payhook/app"
)

// benchOptions are the flags of payhook bench.
type benchOptions struct {
	concurrency      int
	duration         time.Duration
	rate             int
	paced            time.Duration
	dir              string
	binary           string
	merchant         time.Duration
	cpuProfile       string
	scenario         string
	urls             int
	runs             int
	database         string
	processes        int
	refundsPerParent int
	parents          int
	portBase         int
	maxOther         float64
}

// runBench implements "payhook bench": each run starts fresh "payhook serve" processes
// (on SQLite in a temporary directory, or on a fresh PostgreSQL database) and merchant
// receivers on loopback, drives the real HTTP flow of a scenario, and stops them; the
// figures of every run and their medians are printed.
//
// Scenario payments (create a checkout through the API, pay on the checkout URL with the
// success card; the payment notification is delivered to the receiver before the 303
// comes back):
//
//  1. throughput: N concurrent customers as fast as they go; prints payments/s end to end;
//  2. latency: payments started at a paced rate (open loop), once with a webhook_url and
//     once without one; what the notification adds is the difference of the two pay
//     round trips' p50 and p99.
//
// Scenario operations: see benchOperations.
func runBench(args []string, stdout, stderr io.Writer) int {
	o := benchOptions{}
	fs := flag.NewFlagSet("payhook bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "payments", "what to measure: payments (checkout, pay, synchronous notification) or operations (refunds, background notifications)")
	fs.StringVar(&o.database, "database", "", "a postgres:// URL to run on PostgreSQL (default: SQLite in a temporary directory). Use a throwaway server or database: "+
		"when the URL's user may create databases, each run creates payhook_bench_<random> there and drops it after; otherwise the database is used as it is, and the bench's data stays in it")
	fs.IntVar(&o.processes, "processes", 1, "payhook serve processes sharing the database (more than 1 needs PostgreSQL); requests are spread over them round-robin")
	fs.IntVar(&o.runs, "runs", 3, "runs, each with fresh processes and a fresh database; every figure is printed per run and as the median")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent customers (payments) or API clients (operations) in the throughput phase")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the throughput phase (0 skips it)")
	fs.IntVar(&o.rate, "rate", 500, "payments: payments started per second in the latency phases")
	fs.DurationVar(&o.paced, "paced-duration", 10*time.Second, "length of each latency phase (0 skips them)")
	fs.IntVar(&o.refundsPerParent, "refunds-per-parent", 0, "operations: partial refunds each paid transaction gets in the throughput phase before the next one is taken (0: the refunds cycle over --parents transactions)")
	fs.IntVar(&o.parents, "parents", 0, "operations: paid transactions made before the phases (default 2,000; with --refunds-per-parent K, enough for 5,000 refunds/s over --duration)")
	fs.IntVar(&o.urls, "urls", 100, "operations: merchant URLs (each its own loopback port) the notifications spread over")
	fs.IntVar(&o.portBase, "port-base", 0, "first loopback port: payhook serve processes listen on port-base, port-base+1, …; the merchant receivers on the next ports (default: free ports)")
	fs.StringVar(&o.dir, "dir", "", "SQLite: directory for the databases (default: a new temporary one, removed after)")
	fs.StringVar(&o.binary, "binary", "", "payhook binary to benchmark (default: this one)")
	fs.DurationVar(&o.merchant, "merchant-delay", 0, "payments: time the merchant's receiver takes to answer")
	fs.Float64Var(&o.maxOther, "max-other-cpu", 0, "on a shared box: repeat a run (up to 2×--runs times in all) when other work took more than this many cores in one of its phases (0: keep every run)")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "have payhook serve write a CPU profile to this file (with several runs or processes, FILE-r<run>-p<process>.prof)")
	if err := fs.Parse(args); err != nil {
		return usageExit(err, stderr)
	}
	if fs.NArg() > 0 {
		return usageExit(fmt.Errorf("unexpected argument %q", fs.Arg(0)), stderr)
	}
	if err := o.validate(); err != nil {
		return usageExit(err, stderr)
	}
	if err := bench(o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "payhook bench: %v\n", err)
		return 1
	}
	return 0
}

// validate checks the flags before anything starts.
func (o *benchOptions) validate() error {
	if o.scenario != "payments" && o.scenario != "operations" {
		return fmt.Errorf("unknown --scenario %q: payments or operations", o.scenario)
	}
	if o.processes < 1 {
		return errors.New("--processes must be at least 1")
	}
	if o.processes > 1 && !app.IsPostgres(o.database) {
		return fmt.Errorf("--processes %d needs --database postgres://…: one SQLite file is served by one process only (payhook serve locks it)", o.processes)
	}
	if o.database != "" && !app.IsPostgres(o.database) {
		return fmt.Errorf("--database %q: want a postgres:// URL (without --database, the bench runs on a temporary SQLite file; use --dir to choose its directory)", o.database)
	}
	if o.runs < 1 {
		return errors.New("--runs must be at least 1")
	}
	if o.concurrency < 1 || o.urls < 1 {
		return errors.New("--concurrency and --urls must be at least 1")
	}
	if o.refundsPerParent < 0 || o.parents < 0 {
		return errors.New("--refunds-per-parent and --parents cannot be negative")
	}
	if o.portBase < 0 || o.portBase+o.processes+1+o.urls > 65535 {
		return fmt.Errorf("--port-base %d: the ports from it to it+%d must be valid", o.portBase, o.processes+o.urls)
	}
	return nil
}

// storeName says what the processes run on, for the output.
func (o *benchOptions) storeName() string {
	if app.IsPostgres(o.database) {
		return "PostgreSQL"
	}
	return "SQLite"
}

func bench(o benchOptions, stdout, stderr io.Writer) error {
	if o.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.binary = exe
	}
	var pg *benchPostgres
	store := "SQLite (WAL, synchronous=FULL), a new file per run"
	if app.IsPostgres(o.database) {
		var err error
		if pg, err = openBenchPostgres(context.Background(), o.database, stderr); err != nil {
			return err
		}
		store = pg.describe()
	}
	procs := "1 payhook serve process"
	if o.processes > 1 {
		procs = fmt.Sprintf("%d payhook serve processes (requests round-robin)", o.processes)
	}
	fmt.Fprintf(stdout, "payhook bench: scenario %s; store %s; %s; %d run(s)\n", o.scenario, store, procs, o.runs)
	if pg != nil && !pg.canCreate {
		fmt.Fprintf(stdout, "  note: %s may not create databases, so the runs use %s as it is: it should be a throwaway database\n", pg.user, pg.dbName)
	}
	// Interrupted, the bench still stops the processes it started and removes the run's
	// database.
	undo := &benchCleanup{}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() { signal.Stop(sig); close(done) }()
	go func() {
		select {
		case <-sig:
			fmt.Fprintln(stderr, "payhook bench: interrupted: stopping payhook serve and removing the run's database")
			undo.runAll()
			os.Exit(130)
		case <-done:
		}
	}()
	var runs []benchFigures
	repeats := 0
	for r := 1; r <= o.runs; r++ {
		fmt.Fprintf(stdout, "\nrun %d/%d (load average before: %s)\n", r, o.runs, loadAverage())
		figs, other, err := benchOneRun(o, r, pg, undo, stdout, stderr)
		if err != nil {
			return fmt.Errorf("run %d: %w", r, err)
		}
		if o.maxOther > 0 && other > o.maxOther {
			if repeats < 2*o.runs {
				repeats++
				fmt.Fprintf(stdout, "run %d discarded: other work on the box took %.2f cores in a phase (--max-other-cpu %.2f); repeating it\n", r, other, o.maxOther)
				r--
				continue
			}
			fmt.Fprintf(stdout, "run %d kept although other work took %.2f cores in a phase: %d runs were repeated already\n", r, other, repeats)
		}
		runs = append(runs, figs)
	}
	fmt.Fprintf(stdout, "\nmedians of %d run(s): scenario %s, %s, %s\n", o.runs, o.scenario, o.storeName(), procs)
	printMedians(stdout, runs)
	return nil
}

// benchRun is one run's set-up: its database, its payhook serve processes, the merchant's
// receiver, and a client that spreads requests over the processes.
type benchRun struct {
	o     benchOptions
	run   int            // 1, 2, …
	pg    *benchPostgres // nil on SQLite
	rcv   *benchReceiver
	c     *benchClient
	mu    sync.Mutex // procs, for an interruption
	procs []*benchProcess
	// maxOther is the most CPU (cores) other work on the box took in a phase.
	maxOther float64
}

// port returns the loopback address of the i-th port of the run's plan (serve processes
// first, then the receivers); ":0" picks a free one when no --port-base is set.
func (o *benchOptions) port(i int) string {
	if o.portBase == 0 {
		return "127.0.0.1:0"
	}
	return "127.0.0.1:" + strconv.Itoa(o.portBase+i)
}

// benchOneRun runs the scenario once on fresh processes and a fresh database; it returns
// the run's figures and the most CPU other work on the box took in one of its phases.
func benchOneRun(o benchOptions, run int, pg *benchPostgres, undo *benchCleanup, stdout, stderr io.Writer) (benchFigures, float64, error) {
	r := &benchRun{o: o, run: run, pg: pg}
	figs, err := r.do(undo, stdout, stderr)
	return figs, r.maxOther, err
}

func (r *benchRun) do(undo *benchCleanup, stdout, stderr io.Writer) (benchFigures, error) {
	o, run, pg := r.o, r.run, r.pg
	database := ""
	if pg != nil {
		db, drop, err := pg.runDatabase(context.Background())
		if err != nil {
			return nil, err
		}
		defer undo.push(drop)()
		database = db
	} else {
		dir := o.dir
		if dir == "" {
			d, err := os.MkdirTemp("", "payhook-bench-")
			if err != nil {
				return nil, err
			}
			defer undo.push(func() { os.RemoveAll(d) })()
			dir = d
		}
		database = filepath.Join(dir, fmt.Sprintf("bench-%d-%d-%s.db", os.Getpid(), run, strconv.FormatInt(time.Now().UnixNano(), 36)))
	}
	// The merchant's receiver, in this process, on loopback.
	rcv := &benchReceiver{delay: o.merchant}
	rln, err := net.Listen("tcp", o.port(o.processes))
	if err != nil {
		return nil, fmt.Errorf("merchant receiver: %w", err)
	}
	rsrv := &http.Server{Handler: rcv}
	go rsrv.Serve(rln)
	defer rsrv.Close()

	key := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	r.rcv = rcv
	defer undo.push(func() { r.stop(stdout) })()
	for i := 0; i < o.processes; i++ {
		p, err := startBenchProcess(o, run, i, database, key, stderr)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.procs = append(r.procs, p)
		r.mu.Unlock()
		// The first process migrates and bootstraps alone; the others start after it.
		if err := p.waitReady(30 * time.Second); err != nil {
			return nil, err
		}
	}
	r.c = &benchClient{key: key, hook: "http://" + rln.Addr().String() + "/hook/",
		http: &http.Client{
			Transport:     &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       2 * time.Minute,
		}}
	for _, p := range r.procs {
		r.c.bases = append(r.c.bases, p.base)
	}
	if err := r.configure(`{"enabled":true,"api_transactions_enabled":true,"timeout":10,"backoff_factor":1}`); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "payhook serve at %s; receiver at %s\n", strings.Join(r.c.bases, ", "), rln.Addr())
	// Warm up connections and caches.
	for i := 0; i < 50; i++ {
		if _, _, err := r.c.pay(context.Background(), true); err != nil {
			return nil, fmt.Errorf("warm-up payment: %w", err)
		}
	}
	if o.scenario == "operations" {
		return benchOperations(r, stdout)
	}
	return benchPayments(r, stdout)
}

// configure changes the settings through the first process. The others keep their
// cached settings for up to a second (the service's cache), so with several processes it
// waits that out: a phase must not start while one process still has the old settings.
func (r *benchRun) configure(patch string) error {
	if err := r.c.patchConfig(patch); err != nil {
		return err
	}
	if len(r.procs) > 1 {
		time.Sleep(1200 * time.Millisecond)
	}
	return nil
}

// sampleCPU reads the CPU time of the box, the bench, the run's payhook serve processes
// and PostgreSQL's processes.
func (r *benchRun) sampleCPU() cpuSample {
	var serve, pg []int
	for _, p := range r.procs {
		serve = append(serve, p.cmd.Process.Pid)
	}
	if r.pg != nil {
		pg = r.pg.pids(context.Background())
	}
	return sampleCPU(serve, pg)
}

// measureCPU runs a phase and returns the CPU it took.
func (r *benchRun) measureCPU(phase func() error) (cpuUse, error) {
	before := r.sampleCPU()
	err := phase()
	return r.cpuSince(before), err
}

// cpuSince returns the CPU used since before, and keeps the most that other work on the
// box took in any phase of the run (--max-other-cpu).
func (r *benchRun) cpuSince(before cpuSample) cpuUse {
	u := before.until(r.sampleCPU())
	if u.ok {
		r.maxOther = max(r.maxOther, u.rest)
	}
	return u
}

// stop stops the processes (SIGINT: a graceful shutdown) and prints their CPU time.
func (r *benchRun) stop(stdout io.Writer) {
	r.mu.Lock()
	procs := r.procs
	r.mu.Unlock()
	var cpu []string
	for _, p := range procs {
		if d, ok := p.stop(); ok {
			cpu = append(cpu, d.Round(10*time.Millisecond).String())
		}
	}
	if len(cpu) > 0 {
		fmt.Fprintf(stdout, "payhook serve CPU time over the whole run (set-up included): %s\n", strings.Join(cpu, ", "))
	}
}

// benchCleanup is what a run has to undo (stop its processes, remove its database), in
// reverse order: by the run's defers normally, all at once when the bench is interrupted.
type benchCleanup struct {
	mu  sync.Mutex
	fns []func()
}

// push registers fn and returns a function that runs it, once, and forgets it.
func (u *benchCleanup) push(fn func()) func() {
	var once sync.Once
	run := func() { once.Do(fn) }
	u.mu.Lock()
	u.fns = append(u.fns, run)
	i := len(u.fns) - 1
	u.mu.Unlock()
	return func() {
		run()
		u.mu.Lock()
		if i < len(u.fns) {
			u.fns = u.fns[:i]
		}
		u.mu.Unlock()
	}
}

// runAll runs what is registered, the last first.
func (u *benchCleanup) runAll() {
	u.mu.Lock()
	fns := append([]func(){}, u.fns...)
	u.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// benchProcess is one "payhook serve" the bench started.
type benchProcess struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

func startBenchProcess(o benchOptions, run, i int, database, key string, stderr io.Writer) (*benchProcess, error) {
	ln, err := net.Listen("tcp", o.port(i))
	if err != nil {
		return nil, fmt.Errorf("port for payhook serve: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close() // payhook serve listens on it next
	cmd := exec.Command(o.binary, "serve", "--addr", addr, "--database", database,
		"--allow-private-urls", "--log-level", "warn")
	if o.cpuProfile != "" {
		cmd.Args = append(cmd.Args, "--cpu-profile", profilePath(o, run, i))
	}
	cmd.Env = append(os.Environ(), "PAYHOOK_API_KEY="+key)
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start payhook serve: %w", err)
	}
	p := &benchProcess{cmd: cmd, base: "http://" + addr, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// profilePath names process i's CPU profile of a run: --cpu-profile as given for one run
// of one process, else with -r<run>-p<process> before its extension.
func profilePath(o benchOptions, run, i int) string {
	if o.runs == 1 && o.processes == 1 {
		return o.cpuProfile
	}
	ext := filepath.Ext(o.cpuProfile)
	return fmt.Sprintf("%s-r%d-p%d%s", strings.TrimSuffix(o.cpuProfile, ext), run, i+1, ext)
}

// stop ends the process gracefully (killing it after 15 s) and returns its CPU time.
func (p *benchProcess) stop() (time.Duration, bool) {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	if st := p.cmd.ProcessState; st != nil {
		return st.UserTime() + st.SystemTime(), true
	}
	return 0, false
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

// benchClient is the load generator's side: the processes' base URLs, spread over
// round-robin, and one connection pool.
type benchClient struct {
	bases     []string
	key, hook string
	http      *http.Client
	seq       atomic.Int64
	rr        atomic.Uint64
}

// next returns the base URL of the process the next request goes to.
func (c *benchClient) next() string {
	if len(c.bases) == 1 {
		return c.bases[0]
	}
	return c.bases[c.rr.Add(1)%uint64(len(c.bases))]
}

// onAnother rewrites a URL a process answered (its checkout_url) to the process the next
// request goes to: the pay may land on any process.
func (c *benchClient) onAnother(u string) string {
	if len(c.bases) == 1 {
		return u
	}
	for _, b := range c.bases {
		if strings.HasPrefix(u, b+"/") {
			return c.next() + strings.TrimPrefix(u, b)
		}
	}
	return u
}

// pay creates a checkout (with a webhook_url to the receiver when withHook) and pays it;
// it returns the pay round trip and the index.
func (c *benchClient) pay(ctx context.Context, withHook bool) (time.Duration, string, error) {
	idx := strconv.FormatInt(c.seq.Add(1), 10)
	hook := ""
	if withHook {
		hook = `"webhook_url":"` + c.hook + idx + `",`
	}
	body := `{"type":"e_commerce","amount":"86.000","currency_code":"KWD","pg_codes":["credit-card"],` +
		`"order_no":"BENCH-` + idx + `",` + hook + `"redirect_url":"https://merchant.example/done"}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.next()+"/b/checkout/v1/pymt-txn/", strings.NewReader(body))
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
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, c.onAnother(answer.CheckoutURL), strings.NewReader(form.Encode()))
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

// waitReady waits until the process answers /readyz, or exits, or timeout passes.
func (p *benchProcess) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("payhook serve (%s) exited at start: %v (its log is above)", p.base, p.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("payhook serve at %s did not become ready in %s (its log is above)", p.base, timeout)
}

func (c *benchClient) patchConfig(patch string) error {
	req, _ := http.NewRequest(http.MethodPatch, c.bases[0]+"/b/webhook/v1/config/", strings.NewReader(patch))
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
