package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// url_prefix is an extension of the delivery log API: url stays exact (SPEC §10).
func TestNotifications_URLPrefixExtension(t *testing.T) {
	t.Parallel()
	l := setupDeliveryLog(t)
	okPrefix := strings.TrimSuffix(l.ok.URL, "webhook")
	for _, c := range []struct {
		query url.Values
		want  []string
	}{
		{url.Values{"url_prefix": {okPrefix}}, []string{l.delivered.ID}},
		{url.Values{"url_prefix": {"http://127.0.0.1:"}}, []string{l.failed.ID, l.delivered.ID}},
		{url.Values{"url_prefix": {"http://127.0.0.1:"}, "status": {"failed"}}, []string{l.failed.ID}},
		{url.Values{"url": {okPrefix}}, []string{}},
	} {
		p := listNotifications(t, l.env, c.query)
		require.Equal(t, c.want, notificationIDs(p.Results), "%v", c.query)
		require.Equal(t, len(c.want), p.Count, "%v", c.query)
	}

	// The bulk re-send takes it too.
	before := len(l.failing.Requests())
	code, b := l.env.Do("POST", notificationsPath+"resend/?"+url.Values{"url_prefix": {okPrefix}, "status": {"failed"}}.Encode(), nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	require.JSONEq(t, `{"count": 0}`, string(b), "the failed one is at another URL")
	failingPrefix := strings.TrimSuffix(l.failing.URL, "webhook")
	code, b = l.env.Do("POST", notificationsPath+"resend/?"+url.Values{"url_prefix": {failingPrefix}}.Encode(), nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	var answer struct{ Count int }
	require.NoError(t, json.Unmarshal(b, &answer))
	require.Equal(t, 1, answer.Count)
	reqs := l.failing.Wait(t, before+1, 5*time.Second)
	require.Equal(t, l.failed.ID, reqs[before].Header.Get("webhook-id"), "sent again (and refused again, with a 500)")
}
