package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchPayments runs the payments scenario on a started run: the throughput phase, then
// two latency phases at the same paced rate, one with a webhook_url (the notification is
// delivered before the pay answers), one without (the same checkout and pay, nothing to
// deliver). What the notification adds to the pay is the difference of their p50 and p99
// (issue 8); the older figure, each pay round trip minus the merchant's own handling
// time, is printed beside it.
func benchPayments(r *benchRun, stdout io.Writer) (benchFigures, error) {
	var figs benchFigures
	o := r.o
	if o.duration > 0 {
		before := r.sampleCPU()
		n, failed, elapsed, err := paymentsThroughput(r.c, o)
		cpu := r.cpuSince(before)
		rate := float64(n) / elapsed.Seconds()
		fmt.Fprintf(stdout, "throughput: %d customers, %s: %d payments, %.0f payments/s end to end (checkout + pay + notification delivered + 303), %d failed\n",
			o.concurrency, elapsed.Round(time.Millisecond), n, rate, failed)
		if err != nil {
			if n == 0 {
				return nil, err
			}
			fmt.Fprintf(stdout, "  FAILED payments: %v\n", err)
		}
		figs.add("payments/s end to end", rate, "/s")
		if failed > 0 {
			figs.add("payments failed in the throughput phase", float64(failed), "")
		}
		cpu.report(stdout, &figs)
	}
	if o.paced <= 0 || o.rate <= 0 {
		return figs, nil
	}
	// The phases alternate their order from run to run, so that whatever the first phase
	// leaves behind (or the second inherits) weighs on both sides of the medians.
	var with, without pacedResult
	var withCPU, withoutCPU cpuUse
	phases := []func() error{
		func() (err error) {
			withCPU, err = r.measureCPU(func() (err error) { with, err = pacedPayments(r, true); return err })
			return err
		},
		func() (err error) {
			withoutCPU, err = r.measureCPU(func() (err error) { without, err = pacedPayments(r, false); return err })
			return err
		},
	}
	if r.run%2 == 0 {
		phases[0], phases[1] = phases[1], phases[0]
	}
	for _, phase := range phases {
		if err := phase(); err != nil {
			return nil, err
		}
	}
	w50, w99 := pct(with.rtt, 50), pct(with.rtt, 99)
	n50, n99 := pct(without.rtt, 50), pct(without.rtt, 99)
	order := "with a webhook first"
	if r.run%2 == 0 {
		order = "without a webhook first"
	}
	fmt.Fprintf(stdout, "latency at a paced %d payments/s, %s per phase (%d and %d payments, %s):\n", o.rate, o.paced, len(with.rtt), len(without.rtt), order)
	fmt.Fprintf(stdout, "  pay round trip with a webhook (delivered before the 303): p50 %s  p90 %s  p99 %s  max %s\n",
		w50, pct(with.rtt, 90), w99, pct(with.rtt, 100))
	fmt.Fprintf(stdout, "  pay round trip without a webhook:                         p50 %s  p90 %s  p99 %s  max %s\n",
		n50, pct(without.rtt, 90), n99, pct(without.rtt, 100))
	fmt.Fprintf(stdout, "  added by the notification (with - without):              p50 %s  p99 %s\n", w50-n50, w99-n99)
	fmt.Fprintf(stdout, "  (with a webhook, pay round trip - merchant handling:      p50 %s  p99 %s)\n",
		pct(with.added, 50), pct(with.added, 99))
	withCPU.brief(stdout, "with a webhook")
	withoutCPU.brief(stdout, "without")
	for _, p := range []struct {
		name string
		res  pacedResult
	}{{"with a webhook", with}, {"without", without}} {
		if p.res.failed > 0 {
			fmt.Fprintf(stdout, "  FAILED: %d payments of the %s phase; the first: %s\n", p.res.failed, p.name, strings.Join(p.res.errs, "; "))
			figs.add("paced payments failed, "+p.name, float64(p.res.failed), "")
		}
	}
	figs.add(fmt.Sprintf("pay round trip at %d/s with a webhook, p50", o.rate), ms(w50), "ms")
	figs.add(fmt.Sprintf("pay round trip at %d/s with a webhook, p99", o.rate), ms(w99), "ms")
	figs.add(fmt.Sprintf("pay round trip at %d/s without a webhook, p50", o.rate), ms(n50), "ms")
	figs.add(fmt.Sprintf("pay round trip at %d/s without a webhook, p99", o.rate), ms(n99), "ms")
	figs.add("added by the notification (with - without), p50", ms(w50-n50), "ms")
	figs.add("added by the notification (with - without), p99", ms(w99-n99), "ms")
	figs.add("pay round trip - merchant handling, p50", ms(pct(with.added, 50)), "ms")
	figs.add("pay round trip - merchant handling, p99", ms(pct(with.added, 99)), "ms")
	return figs, nil
}

func paymentsThroughput(c *benchClient, o benchOptions) (done, failed int64, elapsed time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var ok, bad atomic.Int64
	var firstErr firstError
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < o.concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, _, err := c.pay(context.Background(), true); err != nil {
					bad.Add(1)
					firstErr.set(err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	if err := firstErr.get(); err != nil {
		return ok.Load(), bad.Load(), elapsed, fmt.Errorf("%d payments failed, first: %w", bad.Load(), err)
	}
	return ok.Load(), 0, elapsed, nil
}

// pacedResult is a latency phase's pay round trips and, with a webhook, each one minus
// the merchant's handling time; and how many payments failed, with the first errors.
type pacedResult struct {
	rtt, added []time.Duration
	failed     int
	errs       []string
}

// pacedPayments starts payments at --rate for --paced-duration (open loop: a slow answer
// does not delay the next start) and returns their pay round trips.
func pacedPayments(r *benchRun, withHook bool) (pacedResult, error) {
	o := r.o
	n := int(o.paced.Seconds() * float64(o.rate))
	interval := time.Second / time.Duration(o.rate)
	added := make([]time.Duration, n)
	rtts := make([]time.Duration, n)
	errs := make([]error, n)
	starts := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		starts[i] = time.Since(start)
		go func(i int) {
			defer wg.Done()
			rtt, idx, err := r.c.pay(context.Background(), withHook)
			if err != nil {
				errs[i] = err
				return
			}
			var handling time.Duration
			if withHook {
				h, _ := r.rcv.handling.Load(idx)
				handling, _ = h.(time.Duration)
			}
			rtts[i], added[i] = rtt, rtt-handling
		}(i)
	}
	wg.Wait()
	var out pacedResult
	for i := range rtts {
		if errs[i] != nil {
			out.failed++
			if len(out.errs) < 3 {
				out.errs = append(out.errs, fmt.Sprintf("%.0fms into the phase: %v", ms(starts[i]), errs[i]))
			}
			continue
		}
		out.rtt = append(out.rtt, rtts[i])
		out.added = append(out.added, added[i])
	}
	if len(out.rtt) == 0 {
		return out, fmt.Errorf("all %d paced payments failed, first: %s", n, out.errs[0])
	}
	// Failures are reported with the figures; the round trips are those that succeeded.
	return out, nil
}
