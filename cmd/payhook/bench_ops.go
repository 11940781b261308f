package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

func newReceiverPool(n int) (*receiverPool, error) {
	p := &receiverPool{hanging: make([]atomic.Bool, n)}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			p.close()
			return nil, err
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

// benchOperations measures operation notifications (issue: background delivery):
// refunds through the Operations API as fast as they are accepted, each notification
// delivered to one of many loopback merchants; delivered/s; the time from a
// notification's commit to its first attempt (p50, p99) at a paced 100/s and 1,000/s;
// and the same with 1% of the merchants hanging (median of several runs).
func benchOperations(c *benchClient, o benchOptions, stdout io.Writer) error {
	pool, err := newReceiverPool(o.urls)
	if err != nil {
		return err
	}
	defer pool.close()
	// Set-up: paid transactions, without notifications.
	if err := c.patchConfig(`{"enabled":false,"timeout":2,"retries":1}`); err != nil {
		return err
	}
	txns := make([]opTxn, 2000)
	var wg sync.WaitGroup
	var setupErr atomic.Value
	sem := make(chan struct{}, 64)
	for i := range txns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			dest := i % o.urls
			sid, err := c.paidTransaction(pool.urls[dest] + "/op/" + strconv.Itoa(i))
			if err != nil {
				setupErr.CompareAndSwap(nil, err)
				return
			}
			txns[i] = opTxn{sessionID: sid, dest: dest}
		}(i)
	}
	wg.Wait()
	if err, _ := setupErr.Load().(error); err != nil {
		return fmt.Errorf("set-up payment: %w", err)
	}
	if err := c.patchConfig(`{"enabled":true}`); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "operations: %d paid transactions spread over %d merchant URLs (one loopback port each)\n", len(txns), o.urls)

	if o.duration > 0 {
		before := pool.delivered.Load()
		ctx, cancel := context.WithTimeout(context.Background(), o.duration)
		var accepted, failed atomic.Int64
		start := time.Now()
		for w := 0; w < o.concurrency; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; ctx.Err() == nil; i += o.concurrency {
					if err := c.refund(txns[i%len(txns)].sessionID); err != nil {
						failed.Add(1)
						continue
					}
					accepted.Add(1)
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
		got := pool.delivered.Load() - before
		fmt.Fprintf(stdout, "throughput: %d refunds accepted in %s (%.0f/s, %d failed); %d notifications delivered in %s: %.0f delivered/s\n",
			accepted.Load(), acceptedAt.Round(time.Millisecond), float64(accepted.Load())/acceptedAt.Seconds(), failed.Load(),
			got, elapsed.Round(time.Millisecond), float64(got)/elapsed.Seconds())
	}
	if o.paced <= 0 {
		return nil
	}
	for _, rate := range []int{100, 1000} {
		lat, err := pacedOperations(c, pool, txns, rate, o.paced, -1)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "commit → first attempt at a paced %d/s for %s: p50 %s  p99 %s  (%d notifications)\n",
			rate, o.paced, pct(lat, 50), pct(lat, 99), len(lat))
	}
	if o.runs <= 0 {
		return nil
	}
	// Isolation: healthy runs against runs with 1% of the URLs hanging, alternated.
	hang := max(1, o.urls/100)
	var healthy50, healthy99, hung50, hung99 []time.Duration
	for r := 0; r < o.runs; r++ {
		lat, err := pacedOperations(c, pool, txns, 1000, 3*time.Second, -1)
		if err != nil {
			return err
		}
		healthy50, healthy99 = append(healthy50, pct(lat, 50)), append(healthy99, pct(lat, 99))
		for i := 0; i < hang; i++ {
			pool.hanging[i].Store(true)
		}
		lat, err = pacedOperations(c, pool, txns, 1000, 3*time.Second, hang)
		for i := 0; i < hang; i++ {
			pool.hanging[i].Store(false)
		}
		if err != nil {
			return err
		}
		hung50, hung99 = append(hung50, pct(lat, 50)), append(hung99, pct(lat, 99))
	}
	fmt.Fprintf(stdout, "isolation at 1000/s, median of %d runs: healthy p50 %s p99 %s; with %d of %d URLs hanging, the other URLs: p50 %s p99 %s\n",
		o.runs, pct(healthy50, 50), pct(healthy99, 50), hang, o.urls, pct(hung50, 50), pct(hung99, 50))
	return nil
}

// pacedOperations sends refunds at a fixed rate for d and returns, for each notification
// to a URL not hanging (index ≥ skipBelow), the time from its commit (created_at) to its
// first attempt (attempts[0].started_at), read back from the delivery log.
func pacedOperations(c *benchClient, pool *receiverPool, txns []opTxn, rate int, d time.Duration, skipBelow int) ([]time.Duration, error) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	since := time.Now().UTC().Add(-time.Millisecond)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
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
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("%d refunds failed, first: %w", failed.Load(), err)
	}
	time.Sleep(200 * time.Millisecond) // let the last attempts be recorded
	return c.firstAttemptLatencies(since)
}

func (c *benchClient) paidTransaction(webhookURL string) (string, error) {
	body := `{"type":"e_commerce","amount":"100000","currency_code":"KWD","pg_codes":["credit-card"],"webhook_url":"` + webhookURL + `"}`
	req, _ := http.NewRequest(http.MethodPost, c.base+"/b/checkout/v1/pymt-txn/", strings.NewReader(body))
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
	resp, err = c.http.PostForm(answer.CheckoutURL, form)
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
	req, _ := http.NewRequest(http.MethodPost, c.base+"/b/pbl/v2/operation/",
		strings.NewReader(`{"operation":"refund","session_id":"`+sessionID+`","amount":"0.001"}`))
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
		req, _ := http.NewRequest(http.MethodGet, c.base+"/b/webhook/v1/notifications/?"+q.Encode(), nil)
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
