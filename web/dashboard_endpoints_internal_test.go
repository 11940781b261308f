package web

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func TestHourChart_ScalesToTheBusiestHour(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	hours := payhook.EndpointHours(since, since.Add(24*time.Hour))
	hours[0].Delivered = 4                     // the busiest hour: full height
	hours[5].Delivered, hours[5].Failed = 1, 1 // a quarter each, failed on top
	hours[23].Failed = 3
	svg := string(hourChart("ep-0", "https://a.example/hook?x=<1>", hours))

	require.Equal(t, 24, strings.Count(svg, `<rect class="slot"`))
	require.Contains(t, svg, `<rect class="delivered" x="0" y="0.00" width="8" height="40.00"/>`)
	require.Contains(t, svg, `<rect class="delivered" x="50" y="30.00" width="8" height="10.00"/>`)
	require.Contains(t, svg, `<rect class="failed" x="50" y="20.00" width="8" height="10.00"/>`)
	require.Contains(t, svg, `<rect class="failed" x="230" y="10.00" width="8" height="30.00"/>`)
	require.Contains(t, svg, `<g><title>15:00–16:00 UTC: 1 delivered, 1 failed</title>`)
	require.Contains(t, svg, `<title id="ep-0-chart-title">Notifications per hour to https://a.example/hook?x=&lt;1&gt; over the last 24 hours: 5 delivered, 4 failed; most failures (3) in the hour from 09:00 UTC.</title>`)
	require.Regexp(t, regexp.MustCompile(`^<svg [^>]*role="img" aria-labelledby="ep-0-chart-title"`), svg)

	empty := string(hourChart("ep-1", "https://b.example/", payhook.EndpointHours(since, since.Add(24*time.Hour))))
	require.NotContains(t, empty, `class="delivered"`)
	require.Contains(t, empty, ": 0 delivered, 0 failed.</title>")
}
