package web

import (
	"context"
	"time"

	"github.com/payhook/payhook"
)

// banner is a standing warning shown at the top of every dashboard page. Its text ends
// with a link to Webhook Config, where it is fixed.
type banner struct {
	ID   string // the element's id
	Text string // followed by the link "Webhook Config" and a full stop
}

// loadBanners returns the banners of the current configuration: notifications off, or
// notifications of API-created transactions off, so that nothing fails silently. The
// settings come from the service's cache (no query on most pages); a failure to load them
// is logged and shows no banner rather than no page. It runs on its own short context
// because renderDash has none: the read is cached and bounded.
func (s *Server) loadBanners() []banner {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := s.svc.Settings(ctx)
	if err != nil {
		s.log.Error("load settings for the dashboard's banners", "err", err)
		return []banner{}
	}
	return bannersOf(st)
}

// Banner texts.
const (
	bannerDisabled = "Webhook notifications are off: nothing is sent (every new payment or operation notification is recorded as not sent; only a Resend by hand still goes out). Turn them on in"
	bannerAPIOff   = "Payment notifications of transactions created through the API are off: a checkout created with the Checkout API sends no payment notification, to its own webhook_url or to its plugin's. Payment requests created in the dashboard and operation notifications are still sent. Turn on “Enable webhook notifications if transaction initiated from API” in"
)

// bannersOf decides the banners of settings st.
func bannersOf(st payhook.Settings) []banner {
	out := []banner{}
	if !st.Enabled {
		return append(out, banner{ID: "banner-notifications-off", Text: bannerDisabled})
	}
	if !st.APITransactionsEnabled {
		out = append(out, banner{ID: "banner-api-notifications-off", Text: bannerAPIOff})
	}
	return out
}
