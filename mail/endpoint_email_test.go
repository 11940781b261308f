package mail_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/mail"
)

func TestEndpointEmail_SaysWhatHappenedAndWhatToDo(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := payhook.EndpointHealth{URL: "https://shop.example/webhook?x=1", State: payhook.EndpointDisabled,
		FirstFailureAt: t0, LastFailureAt: t0.Add(5 * 24 * time.Hour), ChangedAt: t0.Add(5 * 24 * time.Hour)}
	l := mail.EndpointEmail{Health: h, Change: payhook.EndpointBecameDisabled, BaseURL: "https://pay.shop.example/"}.Render()
	require.Equal(t, "[payhook] Webhook URL disabled: shop.example", l.Subject)
	require.Contains(t, l.Text, "Every attempt to https://shop.example/webhook?x=1 has failed since 2026-01-02T03:04:05Z, so payhook disabled it.")
	require.Contains(t, l.Text, "New notifications to this URL are held")
	require.Contains(t, l.Text, "Last success:  never")
	require.Contains(t, l.Text, "https://pay.shop.example/dashboard/endpoints")
	require.Contains(t, l.Text, "POST https://pay.shop.example/b/webhook/v1/endpoints/resume/?url=https%3A%2F%2Fshop.example%2Fwebhook%3Fx%3D1")

	h.State = payhook.EndpointFailing
	l = mail.EndpointEmail{Health: h, Change: payhook.EndpointBecameFailing, BaseURL: "https://pay.shop.example", Repeats: 2}.Render()
	require.Equal(t, "[payhook] Webhook URL failing: shop.example", l.Subject)
	require.Contains(t, l.Text, "one success clears this state")
	require.Contains(t, l.Text, "This happened 2 more times since the last such email")
	require.NotContains(t, l.Text, "Resume through the API")
	require.Equal(t, "endpoint.failing https://shop.example/webhook?x=1", mail.EndpointEmailKey(payhook.EndpointBecameFailing, h.URL))
}
