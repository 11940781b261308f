package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// receiverPool is many merchants: one loopback port each (so that a hanging one is a
// separate host, the hardest case for isolation), answering 200, or hanging when told to.
type receiverPool struct {
	urls      []string
	hanging   []atomic.Bool
	delivered atomic.Int64
	servers   []*http.Server
}

func newReceiverPool(o benchOptions, n int) (*receiverPool, error) {
	p := &receiverPool{hanging: make([]atomic.Bool, n)}
	for i := 0; i < n; i++ {
		// Ports after the serve processes' and the payments receiver's.
		ln, err := net.Listen("tcp", o.port(o.processes+1+i))
		if err != nil {
			p.close()
			return nil, fmt.Errorf("merchant receiver %d: %w", i+1, err)
		}
		i := i
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if p.hanging[i].Load() {
				select {
				case <-r.Context().Done():
				case <-time.After(30 * time.Second):
				}
				return
			}
			w.WriteHeader(http.StatusOK)
			p.delivered.Add(1)
		})}
		go srv.Serve(ln)
		p.servers = append(p.servers, srv)
		p.urls = append(p.urls, "http://"+ln.Addr().String())
	}
	return p, nil
}

func (p *receiverPool) close() {
	for _, s := range p.servers {
		s.Close()
	}
}

// opTxn is a paid transaction that the benchmark refunds bit by bit.
type opTxn struct {
	sessionID string
	dest      int // index of its receiver
}

// refundAmount is each refund: small enough for a parent to take tens of thousands, and
// never declined by the sandbox (it declines amounts whose decimals start with 99).
const refundAmount = "0.001"

// opParents is how many paid transactions the operations scenario makes before its phases:
// --parents, else 2,000, or with --refunds-per-parent K enough for the throughput phase
// at 5,000 refunds/s (beyond what this box reaches) plus one in hand per client.
func opParents(o benchOptions) int {
	if o.parents > 0 {
		return o.parents
	}
	n := 2000
	if o.refundsPerParent > 0 {
		need := o.concurrency + int(math.Ceil(5000*o.duration.Seconds()/float64(o.refundsPerParent)))
		n = max(n, need)
	}
	return max(n, o.urls)
}

// benchOperations measures operation notifications (issue: background delivery): refunds
// through the Operations API as fast as they are accepted, each notification delivered
// to one of many loopback merchants; delivered/s; the time from a notification's commit
// to its first attempt (p50, p99) at a paced 100/s and 1,000/s; and the same with 1% of
// the merchants hanging.
//
// In the throughput phase each API client takes a paid transaction of its own and
// refunds it --refunds-per-parent times before it takes the next (0: the clients cycle
// over all of them), so that no two clients wait on the same transaction and each parent
// gains exactly K children: the rate must not fall as K grows (a refund reads its
// parent without the children). The phase ends early if the transactions run out.
func benchOperations(r *benchRun, stdout io.Writer) (benchFigures, error) {
	c, o := r.c, r.o
	pool, err := newReceiverPool(o, o.urls)
	if err != nil {
		return nil, err
	}
	defer pool.close()
	// Set-up: paid transactions, without notifications.
	if err := r.configure(`{"enabled":false,"timeout":2,"retries":1}`); err != nil {
		return nil, err
	}
	txns := make([]opTxn, opParents(o))
	var wg sync.WaitGroup
	var setupErr firstError
	sem := make(chan struct{}, 64)
	setupStart := time.Now()
	for i := range txns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			dest := i % o.urls
			sid, err := c.paidTransaction(pool.urls[dest] + "/op/" + strconv.Itoa(i))
			if err != nil {
				setupErr.set(err)
				return
			}
			txns[i] = opTxn{sessionID: sid, dest: dest}
		}(i)
	}
	wg.Wait()
	if err := setupErr.get(); err != nil {
		return nil, fmt.Errorf("set-up payment: %w", err)
	}
	if err := r.configure(`{"enabled":true}`); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "operations: %d paid transactions (made in %s) spread over %d merchant URLs (one loopback port each)\n",
		len(txns), time.Since(setupStart).Round(time.Millisecond), o.urls)

	var figs benchFigures
	if o.duration > 0 {
		before := pool.delivered.Load()
		cpuBefore := r.sampleCPU()
		ctx, cancel := context.WithTimeout(context.Background(), o.duration)
		var accepted, failed atomic.Int64
		var firstErr firstError
		var nextParent atomic.Int64
		var ranOut atomic.Bool
		refund := func(t opTxn) {
			if err := c.refund(t.sessionID); err != nil {
				failed.Add(1)
				firstErr.set(err)
				return
			}
			accepted.Add(1)
		}
		start := time.Now()
		for w := 0; w < o.concurrency; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				if o.refundsPerParent == 0 {
					for i := w; ctx.Err() == nil; i += o.concurrency {
						refund(txns[i%len(txns)])
					}
					return
				}
				for ctx.Err() == nil {
					p := int(nextParent.Add(1) - 1)
					if p >= len(txns) {
						ranOut.Store(true)
						cancel()
						return
					}
					for k := 0; k < o.refundsPerParent && ctx.Err() == nil; k++ {
						refund(txns[p])
					}
				}
			}(w)
		}
		wg.Wait()
		cancel()
		acceptedAt := time.Since(start)
		want := before + accepted.Load()
		deadline := time.Now().Add(30 * time.Second)
		for pool.delivered.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		cpu := r.cpuSince(cpuBefore)
		got := pool.delivered.Load() - before
		per := "cycling over all of them"
		if o.refundsPerParent > 0 {
			per = fmt.Sprintf("%d per transaction, %d transactions used", o.refundsPerParent, min(int(nextParent.Load()), len(txns)))
		}
		fmt.Fprintf(stdout, "throughput: %d clients, refunds %s: %d refunds accepted in %s (%.0f/s, %d failed); %d notifications delivered in %s: %.0f delivered/s\n",
			o.concurrency, per, accepted.Load(), acceptedAt.Round(time.Millisecond), float64(accepted.Load())/acceptedAt.Seconds(), failed.Load(),
			got, elapsed.Round(time.Millisecond), float64(got)/elapsed.Seconds())
		if ranOut.Load() {
			fmt.Fprintf(stdout, "  note: the %d paid transactions ran out before --duration: the phase ended early (set --parents higher)\n", len(txns))
		}
		if err := firstErr.get(); err != nil {
			return nil, fmt.Errorf("%d refunds failed, first: %w", failed.Load(), err)
		}
		if got < accepted.Load() {
			return nil, fmt.Errorf("only %d of %d operation notifications were delivered within 30 s of the phase's end", got, accepted.Load())
		}
		figs.add("refunds accepted/s", float64(accepted.Load())/acceptedAt.Seconds(), "/s")
		figs.add("operation notifications delivered/s", float64(got)/elapsed.Seconds(), "/s")
		cpu.report(stdout, &figs)
	}
	if o.paced <= 0 {
		return figs, nil
	}
	for _, rate := range []int{100, 1000} {
		var lat []time.Duration
		cpu, err := r.measureCPU(func() (err error) { lat, err = pacedOperations(c, txns, rate, o.paced, -1); return err })
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "commit → first attempt at a paced %d/s for %s: p50 %s  p99 %s  (%d notifications)\n",
			rate, o.paced, pct(lat, 50), pct(lat, 99), len(lat))
		cpu.brief(stdout, fmt.Sprintf("%d/s", rate))
		figs.add(fmt.Sprintf("commit → first attempt at %d/s, p50", rate), ms(pct(lat, 50)), "ms")
		figs.add(fmt.Sprintf("commit → first attempt at %d/s, p99", rate), ms(pct(lat, 99)), "ms")
	}
	// Isolation: a healthy phase, then one with 1% of the URLs hanging (medians over the
	// runs).
	hang := max(1, o.urls/100)
	iso := min(3*time.Second, o.paced)
	healthy, err := pacedOperations(c, txns, 1000, iso, -1)
	if err != nil {
		return nil, err
	}
	for i := 0; i < hang; i++ {
		pool.hanging[i].Store(true)
	}
	hung, err := pacedOperations(c, txns, 1000, iso, hang)
	for i := 0; i < hang; i++ {
		pool.hanging[i].Store(false)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "isolation at 1000/s: healthy p50 %s p99 %s; with %d of %d URLs hanging, the other URLs: p50 %s p99 %s\n",
		pct(healthy, 50), pct(healthy, 99), hang, o.urls, pct(hung, 50), pct(hung, 99))
	figs.add("isolation at 1000/s, all URLs healthy, p50", ms(pct(healthy, 50)), "ms")
	figs.add("isolation at 1000/s, all URLs healthy, p99", ms(pct(healthy, 99)), "ms")
	figs.add(fmt.Sprintf("isolation at 1000/s, %d of %d URLs hanging, the others p50", hang, o.urls), ms(pct(hung, 50)), "ms")
	figs.add(fmt.Sprintf("isolation at 1000/s, %d of %d URLs hanging, the others p99", hang, o.urls), ms(pct(hung, 99)), "ms")
	return figs, nil
}

// pacedOperations sends refunds at a fixed rate for d and returns, for each notification
// to a URL not hanging (index ≥ skipBelow), the time from its commit (created_at) to its
// first attempt (attempts[0].started_at), read back from the delivery log.
func pacedOperations(c *benchClient, txns []opTxn, rate int, d time.Duration, skipBelow int) ([]time.Duration, error) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	since := time.Now().UTC().Add(-time.Millisecond)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr firstError
	start := time.Now()
	off := rand.IntN(len(txns))
	for i := 0; i < n; i++ {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		t := txns[(off+i)%len(txns)]
		if t.dest < skipBelow {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.refund(t.sessionID); err != nil {
				failed.Add(1)
				firstErr.set(err)
			}
		}()
	}
	wg.Wait()
	if err := firstErr.get(); err != nil {
		return nil, fmt.Errorf("%d refunds failed, first: %w", failed.Load(), err)
	}
	time.Sleep(200 * time.Millisecond) // let the last attempts be recorded
	return c.firstAttemptLatencies(since)
}

func (c *benchClient) paidTransaction(webhookURL string) (string, error) {
	body := `{"type":"e_commerce","amount":"100000","currency_code":"KWD","pg_codes":["credit-card"],"webhook_url":"` + webhookURL + `"}`
	req, _ := http.NewRequest(http.MethodPost, c.next()+"/b/checkout/v1/pymt-txn/", strings.NewReader(body))
	req.Header.Set("Authorization", "Api-Key "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	var answer struct {
		SessionID   string `json:"session_id"`
		CheckoutURL string `json:"checkout_url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("checkout: status %d (%v)", resp.StatusCode, err)
	}
	form := url.Values{"card_number": {"4111111111111111"}, "card_expiry": {"12/39"}, "card_cvv": {"123"}}
	resp, err = c.http.PostForm(c.onAnother(answer.CheckoutURL), form)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("pay: status %d", resp.StatusCode)
	}
	return answer.SessionID, nil
}

func (c *benchClient) refund(sessionID string) error {
	req, _ := http.NewRequest(http.MethodPost, c.next()+"/b/pbl/v2/operation/",
		strings.NewReader(`{"operation":"refund","session_id":"`+sessionID+`","amount":"`+refundAmount+`"}`))
	req.Header.Set("Authorization", "Api-Key "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("refund: status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// firstAttemptLatencies reads the operation notifications created since t from the
// delivery log and returns first attempt start − created_at for each that has one.
func (c *benchClient) firstAttemptLatencies(since time.Time) ([]time.Duration, error) {
	var out []time.Duration
	for offset := 0; ; offset += 200 {
		q := url.Values{"kind": {"operation"}, "since": {since.Format(time.RFC3339)}, "limit": {"200"}, "offset": {strconv.Itoa(offset)}}
		req, _ := http.NewRequest(http.MethodGet, c.bases[0]+"/b/webhook/v1/notifications/?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Api-Key "+c.key)
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Results []struct {
				CreatedAt time.Time `json:"created_at"`
				Attempts  []struct {
					StartedAt time.Time `json:"started_at"`
				} `json:"attempts"`
			} `json:"results"`
			Next *string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		for _, r := range page.Results {
			if len(r.Attempts) > 0 && !r.CreatedAt.Before(since) {
				out = append(out, r.Attempts[0].StartedAt.Sub(r.CreatedAt))
			}
		}
		if page.Next == nil {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
