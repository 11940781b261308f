package payhook

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	txnURL = "https://merchant.example/txn"
	plgURL = "https://merchant.example/plugin"
	opsURL = "https://merchant.example/ops"
)

// on returns settings with notifications on for every origin.
func on() Settings {
	s := DefaultSettings("pu9MpX3yPR")
	s.Enabled, s.APITransactionsEnabled = true, true
	return s
}

func txn(origin Origin, state State, webhookURL string) *Transaction {
	return &Transaction{SessionID: "s1", Type: PluginECommerce, Origin: origin, State: state, WebhookURL: webhookURL}
}

func TestPaymentRecipients(t *testing.T) {
	t.Parallel()
	off := on()
	off.Enabled = false
	noAPI := on()
	noAPI.APITransactionsEnabled = false
	plugin := PluginSettings{Plugin: PluginECommerce, WebhookURL: plgURL}
	filtered := PluginSettings{Plugin: PluginECommerce, WebhookURL: plgURL, StateFilterEnabled: true, States: []State{StatePaid}}
	filterOff := PluginSettings{Plugin: PluginECommerce, WebhookURL: plgURL, States: []State{StateFailed}}

	tests := []struct {
		name         string
		s            Settings
		p            PluginSettings
		t            *Transaction
		ignoreFilter bool
		want         []Recipient
	}{
		{"disabled: every URL recorded not sent", off, plugin, txn(OriginDashboard, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, Reason: ReasonDisabled}, {URL: plgURL, Reason: ReasonDisabled}}},
		{"disabled wins over no_url", off, PluginSettings{}, txn(OriginDashboard, StatePaid, ""), false,
			[]Recipient{{Reason: ReasonDisabled}}},
		{"disabled wins over api_transactions_disabled", func() Settings { s := off; s.APITransactionsEnabled = false; return s }(),
			plugin, txn(OriginAPI, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, Reason: ReasonDisabled}, {URL: plgURL, Reason: ReasonDisabled}}},
		{"API origin without api_transactions_enabled", noAPI, plugin, txn(OriginAPI, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, Reason: ReasonAPITransactionsDisabled}, {URL: plgURL, Reason: ReasonAPITransactionsDisabled}}},
		{"dashboard origin ignores api_transactions_enabled", noAPI, plugin, txn(OriginDashboard, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, RedirectDecider: true}, {URL: plgURL}}},
		{"API origin with api_transactions_enabled", on(), plugin, txn(OriginAPI, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, RedirectDecider: true}, {URL: plgURL}}},
		{"state filter excludes the state", on(), filtered, txn(OriginAPI, StateFailed, txnURL), false,
			[]Recipient{{URL: txnURL, Reason: ReasonStateFiltered}, {URL: plgURL, Reason: ReasonStateFiltered}}},
		{"state filter lets its state through", on(), filtered, txn(OriginAPI, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, RedirectDecider: true}, {URL: plgURL}}},
		{"state filter off: states ignored", on(), filterOff, txn(OriginAPI, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, RedirectDecider: true}, {URL: plgURL}}},
		{"inquiry ignores the state filter", on(), filtered, txn(OriginAPI, StateFailed, txnURL), true,
			[]Recipient{{URL: txnURL, RedirectDecider: true}, {URL: plgURL}}},
		{"inquiry still obeys the master switch", off, filtered, txn(OriginAPI, StateFailed, txnURL), true,
			[]Recipient{{URL: txnURL, Reason: ReasonDisabled}, {URL: plgURL, Reason: ReasonDisabled}}},
		{"state filter with no URL records state_filtered", on(), PluginSettings{StateFilterEnabled: true, States: []State{StatePaid}},
			txn(OriginAPI, StateCanceled, ""), false, []Recipient{{Reason: ReasonStateFiltered}}},
		{"same URL twice: one request", on(), PluginSettings{WebhookURL: txnURL}, txn(OriginAPI, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, RedirectDecider: true}}},
		{"plugin URL decides without a transaction URL", on(), plugin, txn(OriginAPI, StatePaid, ""), false,
			[]Recipient{{URL: plgURL, RedirectDecider: true}}},
		{"transaction URL alone", on(), PluginSettings{}, txn(OriginAPI, StatePaid, txnURL), false,
			[]Recipient{{URL: txnURL, RedirectDecider: true}}},
		{"no URL at all", on(), PluginSettings{}, txn(OriginAPI, StatePaid, ""), false,
			[]Recipient{{Reason: ReasonNoURL}}},
		{"operations URL is not a payment recipient", func() Settings { s := on(); s.OperationsWebhookURL = opsURL; return s }(),
			PluginSettings{}, txn(OriginAPI, StatePaid, ""), false, []Recipient{{Reason: ReasonNoURL}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := PaymentRecipients(tt.s, tt.p, tt.t, tt.ignoreFilter)
			require.Equal(t, tt.want, got)
			deciders := 0
			for _, r := range got {
				if r.RedirectDecider {
					deciders++
					require.Empty(t, r.Reason, "a recipient not sent to cannot decide the redirect")
				}
			}
			require.LessOrEqual(t, deciders, 1, "at most one URL decides the redirect")
		})
	}
}

func TestPaymentRecipients_EveryFilterableState(t *testing.T) {
	t.Parallel()
	p := PluginSettings{WebhookURL: plgURL, StateFilterEnabled: true, States: []State{StatePaid, StateAuthorized}}
	for _, st := range []State{StatePaid, StateAuthorized, StateFailed, StateCanceled, StateExpired} {
		got := PaymentRecipients(on(), p, txn(OriginDashboard, st, ""), false)
		require.Len(t, got, 1, st)
		if st == StatePaid || st == StateAuthorized {
			require.Equal(t, Recipient{URL: plgURL, RedirectDecider: true}, got[0], st)
		} else {
			require.Equal(t, Recipient{URL: plgURL, Reason: ReasonStateFiltered}, got[0], st)
		}
	}
}

func TestOperationRecipients(t *testing.T) {
	t.Parallel()
	withOps := func(s Settings) Settings { s.OperationsWebhookURL = opsURL; return s }
	off := withOps(on())
	off.Enabled = false
	noAPI := withOps(on())
	noAPI.APITransactionsEnabled = false
	plugin := PluginSettings{Plugin: PluginECommerce, WebhookURL: plgURL}
	filtered := PluginSettings{Plugin: PluginECommerce, WebhookURL: plgURL, StateFilterEnabled: true, States: []State{StateFailed}}

	tests := []struct {
		name string
		s    Settings
		p    PluginSettings
		t    *Transaction
		want []Recipient
	}{
		{"disabled", off, plugin, txn(OriginAPI, StatePaid, txnURL),
			[]Recipient{{URL: opsURL, Reason: ReasonDisabled}, {URL: txnURL, Reason: ReasonDisabled}, {URL: plgURL, Reason: ReasonDisabled}}},
		{"disabled with no URL", func() Settings { s := on(); s.Enabled = false; return s }(), PluginSettings{}, txn(OriginAPI, StatePaid, ""),
			[]Recipient{{Reason: ReasonDisabled}}},
		{"all three URLs", withOps(on()), plugin, txn(OriginAPI, StatePaid, txnURL),
			[]Recipient{{URL: opsURL}, {URL: txnURL}, {URL: plgURL}}},
		{"api_transactions_enabled does not apply", noAPI, plugin, txn(OriginAPI, StatePaid, txnURL),
			[]Recipient{{URL: opsURL}, {URL: txnURL}, {URL: plgURL}}},
		{"the state filter does not apply", withOps(on()), filtered, txn(OriginAPI, StatePaid, ""),
			[]Recipient{{URL: opsURL}, {URL: plgURL}}},
		{"operations URL alone", withOps(on()), PluginSettings{}, txn(OriginAPI, StatePaid, ""),
			[]Recipient{{URL: opsURL}}},
		{"two set: both get it", on(), plugin, txn(OriginAPI, StatePaid, txnURL),
			[]Recipient{{URL: txnURL}, {URL: plgURL}}},
		{"distinct URLs", withOps(on()), PluginSettings{WebhookURL: opsURL}, txn(OriginAPI, StatePaid, opsURL),
			[]Recipient{{URL: opsURL}}},
		{"no URL", on(), PluginSettings{}, txn(OriginAPI, StatePaid, ""),
			[]Recipient{{Reason: ReasonNoURL}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := OperationRecipients(tt.s, tt.p, tt.t)
			require.Equal(t, tt.want, got)
			for _, r := range got {
				require.False(t, r.RedirectDecider, "no operation notification decides a redirect")
			}
		})
	}
}
