package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payhook/payhook"
)

// Metrics of every engine in the process; Collectors hands them to a registry.
var (
	attemptsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payhook_delivery_attempts_total",
		Help: "Attempts to deliver a notification, by outcome: answered_ok (200/201), answered_error (any other status), no_answer (timeout or connection failure), refused (SSRF guard, TLS).",
	}, []string{"outcome"})
	attemptSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "payhook_delivery_attempt_duration_seconds",
		Help:    "How long one attempt took, from the start of the request to the merchant's answer.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	finishedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payhook_notifications_finished_total",
		Help: "Notifications whose round of attempts ended, by status (delivered or failed).",
	}, []string{"status"})
	attemptsInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "payhook_attempts_in_flight",
		Help: "Attempts this process is making right now (POSTs waiting for an answer).",
	})
	leasesHeld = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "payhook_leases_held",
		Help: "Pending notifications this process holds a lease on (attempting them or waiting to retry), as of its last renewal.",
	})
)

// Collectors returns the delivery metrics, for a Prometheus registry.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{attemptsTotal, attemptSeconds, finishedTotal, attemptsInFlight, leasesHeld,
		extendedTotal, orderWaitsTotal}
}

// StatsStore is what the queue collector reads.
type StatsStore interface {
	DeliveryStats(ctx context.Context, now time.Time) (payhook.DeliveryStats, error)
}

// QueueCollector reports the store's delivery queue at each scrape: pending
// notifications, the age of the oldest due one, and the leases held (by every process
// sharing the database).
func QueueCollector(st StatsStore, clock payhook.Clock) prometheus.Collector {
	return &queueCollector{st: st, clock: clock}
}

type queueCollector struct {
	st    StatsStore
	clock payhook.Clock
}

var (
	pendingDesc = prometheus.NewDesc("payhook_notifications_pending", "Pending notifications in the store (all processes).", nil, nil)
	oldestDesc  = prometheus.NewDesc("payhook_notifications_oldest_pending_age_seconds", "How long the oldest due pending notification has been due (0 when none is).", nil, nil)
	leasedDesc  = prometheus.NewDesc("payhook_notifications_leased", "Pending notifications under an unexpired lease (all processes).", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- oldestDesc
	ch <- leasedDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.clock.Now()
	st, err := c.st.DeliveryStats(ctx, now)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(pendingDesc, err)
		return
	}
	age := 0.0
	if !st.OldestDue.IsZero() {
		age = max(0, now.Sub(st.OldestDue).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(leasedDesc, prometheus.GaugeValue, float64(st.LeasesHeld))
}

func observe(outcomeStatus int, noAnswer bool, seconds float64) {
	attemptSeconds.Observe(seconds)
	switch {
	case outcomeStatus == 200 || outcomeStatus == 201:
		attemptsTotal.WithLabelValues("answered_ok").Inc()
	case outcomeStatus != 0:
		attemptsTotal.WithLabelValues("answered_error").Inc()
	case noAnswer:
		attemptsTotal.WithLabelValues("no_answer").Inc()
	default:
		attemptsTotal.WithLabelValues("refused").Inc()
	}
}
