package payhook

// Recipient is one destination of a notification, or, when Reason is set, the record of
// a notification not sent (URL may then be "").
type Recipient struct {
	URL             string
	Reason          Reason
	RedirectDecider bool
	// Extended is set when the notification gets extended redelivery (Settings.ExtendedFor).
	Extended bool
}

// PaymentRecipients decides who gets the payment notification of t (SPEC §3): nothing
// while notifications are off; nothing for an API-created transaction while
// api_transactions_enabled is off; nothing when the plugin's state filter is on and
// excludes t's state (unless ignoreStateFilter, as the inquiry does); otherwise t's own
// webhook_url and the plugin's, one per distinct URL. The transaction's own URL (else the
// plugin's) decides the redirect. A decision not to send is returned as recipients with a
// Reason, one per URL that would have been called, or one with no URL.
func PaymentRecipients(s Settings, p PluginSettings, t *Transaction, ignoreStateFilter bool) []Recipient {
	urls := distinct(t.WebhookURL, p.WebhookURL)
	var reason Reason
	switch {
	case !s.Enabled:
		reason = ReasonDisabled
	case t.Origin == OriginAPI && !s.APITransactionsEnabled:
		reason = ReasonAPITransactionsDisabled
	case !ignoreStateFilter && !p.Passes(t.State):
		reason = ReasonStateFiltered
	case len(urls) == 0:
		reason = ReasonNoURL
	}
	if reason != "" {
		return notSent(urls, reason)
	}
	out := make([]Recipient, len(urls))
	for i, u := range urls {
		out[i] = Recipient{URL: u, RedirectDecider: i == 0, Extended: s.ExtendedFor(p, u, false)}
	}
	return out
}

// OperationRecipients decides who gets the operation notification of t (SPEC §3): nothing
// while notifications are off; otherwise operations_webhook_url, t's webhook_url and the
// plugin's, one per distinct URL. api_transactions_enabled does not apply. No operation
// notification decides a redirect.
func OperationRecipients(s Settings, p PluginSettings, t *Transaction) []Recipient {
	urls := distinct(s.OperationsWebhookURL, t.WebhookURL, p.WebhookURL)
	switch {
	case !s.Enabled:
		return notSent(urls, ReasonDisabled)
	case len(urls) == 0:
		return notSent(nil, ReasonNoURL)
	}
	out := make([]Recipient, len(urls))
	for i, u := range urls {
		out[i] = Recipient{URL: u, Extended: s.ExtendedFor(p, u, true)}
	}
	return out
}

func notSent(urls []string, r Reason) []Recipient {
	if len(urls) == 0 {
		return []Recipient{{Reason: r}}
	}
	out := make([]Recipient, len(urls))
	for i, u := range urls {
		out[i] = Recipient{URL: u, Reason: r}
	}
	return out
}

func distinct(urls ...string) []string {
	var out []string
	for _, u := range urls {
		if u == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == u {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, u)
		}
	}
	return out
}
