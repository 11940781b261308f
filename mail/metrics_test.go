package mail_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/mail"
)

// gather returns the value of each metric of reg by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestCollectors_CountSentHeldBackAndQueued(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	f := setup(t, smtpConfig(srv, "", ""), mail.Config{}, nil)
	reg := prometheus.NewRegistry()
	for _, c := range mail.Collectors(f.mailer) {
		require.NoError(t, reg.Register(c))
	}
	require.Nil(t, mail.Collectors(nil), "no mailer, no metrics")

	f.pay(t, "", "ORDER-1")
	f.pay(t, "", "ORDER-2")
	srv.Wait(t, 2, 5*time.Second)
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().Held == 1 }, "1 failure held back")
	phtest.Eventually(t, 5*time.Second, func() bool { return gather(t, reg)["payhook_error_emails_queued"] == 0 },
		"the email left the queue")
	require.Equal(t, map[string]float64{
		"payhook_error_emails_sent_total":     2, // one per address
		"payhook_error_emails_given_up_total": 0,
		"payhook_error_emails_held_back":      1,
		"payhook_error_emails_queued":         0,
	}, gather(t, reg))
}
