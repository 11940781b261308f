package mail

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// statsTimeout bounds the store's count at each scrape.
const statsTimeout = 5 * time.Second

var (
	heldBackDesc = prometheus.NewDesc("payhook_error_emails_held_back",
		"Failures held back by error-email flood control, to be summed up by the next email to their URL (the store's count, the same in every process: aggregate with max, not sum).",
		nil, nil)
	queuedDesc = prometheus.NewDesc("payhook_error_emails_queued",
		"Error emails waiting in the store to be sent, or being tried (the store's count, the same in every process: aggregate with max, not sum).",
		nil, nil)
)

// Collectors returns the error emails' metrics of m, for a Prometheus registry:
// payhook_error_emails_sent_total and payhook_error_emails_given_up_total count what
// this process did (one per address); payhook_error_emails_held_back and
// payhook_error_emails_queued are read from the store at each scrape. Nil m (no SMTP
// server configured) has none.
func Collectors(m *ErrorMailer) []prometheus.Collector {
	if m == nil {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "payhook_error_emails_sent_total",
			Help: "Error emails the SMTP server accepted, one per address.",
		}, func() float64 { return float64(m.stats.sent.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "payhook_error_emails_given_up_total",
			Help: "Error emails given up, one per address: refused for good by the SMTP server, or out of attempts (their failures are then counted into the next email to the URL).",
		}, func() float64 { return float64(m.stats.givenUp.Load()) }),
		storeGauges{m: m},
	}
}

// storeGauges reads the held-back failures and the queued emails from the store, once
// per scrape.
type storeGauges struct{ m *ErrorMailer }

// Describe implements prometheus.Collector.
func (g storeGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- heldBackDesc
	ch <- queuedDesc
}

// Collect implements prometheus.Collector; while the store does not answer, the gauges
// are left out (and the error logged) rather than fail the whole scrape.
func (g storeGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := g.m.cfg.Store.ErrorEmailStats(ctx)
	if err != nil {
		g.m.log.Warn("error email metrics: store did not answer", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(heldBackDesc, prometheus.GaugeValue, float64(st.HeldBack))
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued))
}
