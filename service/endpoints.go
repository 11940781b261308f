package service

import (
	"context"
	"sort"
	"time"

	"github.com/payhook/payhook"
)

// EndpointWindow is how far back the endpoint health page looks.
const EndpointWindow = 24 * time.Hour

// Endpoint is one webhook URL on the endpoint health page: its figures over the window
// and where it is configured, if anywhere.
type Endpoint struct {
	payhook.EndpointStats
	// ConfiguredAs names the settings that hold the URL: "operations_webhook_url" or a
	// plugin's code (e_commerce, payment_request); empty for a URL given per
	// transaction.
	ConfiguredAs []string
	// Health is the URL's health and resume progress; nil before its first attempt.
	Health *payhook.EndpointHealth
}

// Endpoints returns the health of every webhook URL over the 24 clock hours ending with
// the current one ([since, until)): each URL that got notifications created in it, and the
// configured URLs (operations_webhook_url, the plugins' webhook_url) even without any.
// Configured URLs come first, then the others, each group by URL.
func (s *Service) Endpoints(ctx context.Context) (since, until time.Time, list []Endpoint, err error) {
	until = s.clock.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	since = until.Add(-EndpointWindow)
	stats, err := s.store.EndpointStats(ctx, since, until)
	if err != nil {
		return since, until, nil, err
	}
	c, err := s.config(ctx)
	if err != nil {
		return since, until, nil, err
	}
	configured := map[string][]string{}
	if u := c.settings.OperationsWebhookURL; u != "" {
		configured[u] = append(configured[u], "operations_webhook_url")
	}
	plugins := make([]payhook.Plugin, 0, len(c.plugins))
	for p := range c.plugins {
		plugins = append(plugins, p)
	}
	sort.Slice(plugins, func(i, j int) bool { return plugins[i] < plugins[j] })
	for _, p := range plugins {
		if u := c.plugins[p].WebhookURL; u != "" {
			configured[u] = append(configured[u], string(p))
		}
	}
	seen := map[string]bool{}
	for _, st := range stats {
		list = append(list, Endpoint{EndpointStats: st, ConfiguredAs: configured[st.URL]})
		seen[st.URL] = true
	}
	for u, as := range configured {
		if !seen[u] {
			list = append(list, Endpoint{EndpointStats: payhook.EndpointStats{URL: u, Hours: payhook.EndpointHours(since, until)}, ConfiguredAs: as})
		}
	}
	health, err := s.store.ListEndpointHealth(ctx)
	if err != nil {
		return since, until, nil, err
	}
	byURL := map[string]*payhook.EndpointHealth{}
	for i := range health {
		byURL[health[i].URL] = &health[i]
	}
	for i := range list {
		list[i].Health = byURL[list[i].URL]
		seen[list[i].URL] = true
	}
	for _, h := range byURL { // a URL not healthy, or with held notifications, is shown however old
		if !seen[h.URL] && (h.State != payhook.EndpointHealthy || h.Held > 0) {
			list = append(list, Endpoint{EndpointStats: payhook.EndpointStats{URL: h.URL, Hours: payhook.EndpointHours(since, until)}, Health: h})
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		ci, cj := len(list[i].ConfiguredAs) > 0, len(list[j].ConfiguredAs) > 0
		if ci != cj {
			return ci
		}
		return list[i].URL < list[j].URL
	})
	return since, until, list, nil
}
