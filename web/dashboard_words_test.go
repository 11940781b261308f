package web

import (
	"bytes"
	"html/template"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0 ms"},
		{0, "0 ms"},
		{400 * time.Microsecond, "0.4 ms"},
		{time.Millisecond, "1 ms"},
		{1499 * time.Microsecond, "1 ms"},
		{250 * time.Millisecond, "250 ms"},
		{999 * time.Millisecond, "999 ms"},
		{999600 * time.Microsecond, "1.0 s"},
		{time.Second, "1.0 s"},
		{1250 * time.Millisecond, "1.3 s"},
		{12345 * time.Millisecond, "12.3 s"},
		{59940 * time.Millisecond, "59.9 s"},
		{59960 * time.Millisecond, "1 min"},
		{time.Minute, "1 min"},
		{2*time.Minute + 5*time.Second, "2 min 5 s"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1 h"},
		{time.Hour + 2*time.Minute + 20*time.Second, "1 h 2 min"},
		{26 * time.Hour, "26 h"},
	} {
		require.Equal(t, tc.want, humanDuration(tc.d), "%v", tc.d)
	}
}

func TestWords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code any
		want string
	}{
		{payhook.StatusNotSent, "Not sent"},
		{payhook.StatusPending, "Waiting to be sent"},
		{payhook.StatusDelivered, "Delivered"},
		{payhook.StatusFailed, "Failed"},
		{payhook.ReasonStateFiltered, "state filtered"},
		{payhook.ReasonAPITransactionsDisabled, "off for transactions made through the API"},
		{payhook.ReasonNoURL, "no webhook URL"},
		{payhook.ReasonDisabled, "webhook notifications are off"},
		{payhook.StatePending, "Waiting for payment"}, // not the notification's "pending"
		{payhook.StateAttempted, "Tried, not paid yet"},
		{payhook.StatePaid, "Paid"},
		{payhook.ChildRefundRejected, "Refund rejected"},
		{payhook.ChildPaid, "Captured"},
		{payhook.ResultError, "Error"},
		{payhook.KindOperation, "Operation"},
		{payhook.OriginAPI, "API"},
		// A plain string: the first set that knows it.
		{"not_sent", "Not sent"},
		{"state_filtered", "state filtered"},
		// An unknown code still reads as words.
		{"some_new_code", "Some new code"},
		{payhook.State("brand_new"), "Brand new"},
		{"", ""},
	} {
		require.Equal(t, tc.want, words(tc.code), "%#v", tc.code)
	}
}

func TestCodedAndOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got  template.HTML
		want string
	}{
		{coded(payhook.StatePaid), `<span class="coded"><span class="words">Paid</span> <span class="badge paid">paid</span></span>`},
		{coded(payhook.StateAttempted), `<span class="coded"><span class="words">Tried, not paid yet</span> <span class="badge attempted">attempted</span></span>`},
		{coded(payhook.State("")), `<span class="muted">—</span>`},
		{coded(`a"<b>`), `<span class="coded"><span class="words">A&#34;&lt;b&gt;</span> <span class="badge a&#34;&lt;b&gt;">a&#34;&lt;b&gt;</span></span>`},
		{outcome(payhook.StatusNotSent, payhook.ReasonStateFiltered),
			`<span class="coded"><span class="words">Not sent — state filtered</span> <span class="badge not_sent">not_sent</span> <code class="raw">(state_filtered)</code></span>`},
		{outcome(payhook.StatusDelivered, ""), `<span class="coded"><span class="words">Delivered</span> <span class="badge delivered">delivered</span></span>`},
	} {
		require.Equal(t, tc.want, string(tc.got))
	}
}

// TestCopyPartial checks the Copy button's markup: hidden until dashboard.js shows it,
// named for screen readers, right after the value it copies.
func TestCopyPartial(t *testing.T) {
	t.Parallel()
	pages, err := newDashPages()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, pages["dash_error"].ExecuteTemplate(&buf, "copy", "session id"))
	require.Equal(t, `<button type="button" class="copy" hidden aria-label="Copy the session id">Copy</button>`, buf.String())
}
