package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// fitsViewport is a script that lists the elements reaching past the viewport's width
// (none on a page that a phone shows without sideways scrolling).
const fitsViewport = `(() => {
	const out = [];
	for (const e of document.querySelectorAll("body *")) {
		const r = e.getBoundingClientRect();
		if (r.width > 0 && (r.right > window.innerWidth + 0.5 || r.left < -0.5)) {
			out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " " + Math.round(r.left) + ".." + Math.round(r.right));
		}
	}
	if (document.documentElement.scrollWidth > window.innerWidth) out.push("page " + document.documentElement.scrollWidth);
	return out.join(", ");
})()`

// TestBrowser_Endpoints sends test notifications from the Endpoints page in chromium,
// without JavaScript of our own, and checks that the hourly chart is drawn and that the
// page and the result page fit a 390 px wide phone.
func TestBrowser_Endpoints(t *testing.T) {
	t.Parallel()
	browser := startChromium(t)
	env := phtest.New(t)
	longURL := "https://operations.shop.example/webhooks/payhook/" + strings.Repeat("operations-", 12) + "end"
	env.Configure(map[string]any{"timeout": 0.3, "retry_enabled": false, "operations_webhook_url": longURL})
	good := phtest.NewReceiver(t)
	bad := phtest.NewReceiver(t)
	bad.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "down for maintenance")
	}
	tb := newTab(t, browser, env)
	tb.signIn()

	// The form: any URL.
	tb.openOK("/dashboard/endpoints")
	tb.typeInto("test-url", good.URL)
	resp := tb.pressID("send-test")
	require.EqualValues(t, http.StatusOK, resp.Status)
	require.Equal(t, "Delivered", tb.textAt("h1 + section h2"))
	require.Equal(t, "HTTP 200", tb.text("test-answer"))
	good.Wait(t, 1, 5*time.Second)

	tb.openOK("/dashboard/endpoints")
	tb.typeInto("test-url", bad.URL)
	tb.pressID("send-test")
	require.Equal(t, "Not accepted", tb.textAt("h1 + section h2"))
	require.Equal(t, "HTTP 503", tb.text("test-answer"))
	require.Equal(t, "down for maintenance", tb.text("test-excerpt"))
	tb.screenshot("endpoint-test")

	// A URL's own button sends again to it.
	tb.openOK("/dashboard/endpoints")
	row := tb.js(`[...document.querySelectorAll('a[id$="-url"]')].find(a => a.textContent === ` + jsString(good.URL) + `).id.replace(/-url$/, "")`)
	tb.pressID(row + "-test")
	require.Equal(t, "HTTP 200", tb.text("test-answer"))
	good.Wait(t, 2, 5*time.Second)

	tb.openOK("/dashboard/endpoints")
	require.Equal(t, "2", tb.text(row+"-delivered"))
	// The chart is drawn: 24 hour slots, the deliveries' bar has a height, and its title
	// sums it up for screen readers.
	chart := row + "-chart"
	require.Equal(t, 24, tb.count(`[id="`+chart+`"] rect.slot`))
	require.True(t, tb.jsTrue(`document.getElementById("`+chart+`").getBoundingClientRect().width > 100`), "the chart has a width")
	require.True(t, tb.jsTrue(`document.querySelector('[id="`+chart+`"] rect.delivered').getBBox().height > 30`), "the busiest hour's bar is full height")
	require.Equal(t, "rgb(6, 118, 71)", tb.js(`getComputedStyle(document.querySelector('[id="`+chart+`"] rect.delivered')).fill`), "styled by the stylesheet")
	require.Contains(t, tb.js(`document.getElementById("`+chart+`").getAttribute("aria-labelledby")`), "-chart-title")
	require.Contains(t, tb.text(chart+"-title"), ": 2 delivered, 0 failed.")
	tb.screenshot("endpoints")

	// A phone: nothing reaches past the screen's width, the long URL wraps.
	tb.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	tb.openOK("/dashboard/endpoints")
	require.Empty(t, tb.js(fitsViewport), "elements wider than a 390 px screen")
	require.True(t, tb.jsTrue(`document.getElementById("`+chart+`").getBoundingClientRect().width > 100`))
	tb.screenshot("endpoints-mobile")
	tb.pressID(row + "-test")
	require.Equal(t, "HTTP 200", tb.text("test-answer"))
	require.Empty(t, tb.js(fitsViewport), "result page: elements wider than a 390 px screen")
	tb.screenshot("endpoint-test-mobile")
}
