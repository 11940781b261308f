package delivery

import "github.com/prometheus/client_golang/prometheus"

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
)

// Collectors returns the delivery metrics, for a Prometheus registry.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{attemptsTotal, attemptSeconds, finishedTotal}
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
