package sandbox_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/gateway/sandbox"
)

func TestPay_TheCardNumberDecides(t *testing.T) {
	t.Parallel()
	g := sandbox.New("credit-card", gateway.OperationPurchase)
	for card, want := range map[string]payhook.Result{
		sandbox.CardSuccess:  payhook.ResultSuccess,
		sandbox.CardDeclined: payhook.ResultFailed,
		sandbox.CardError:    payhook.ResultError,
		"5555555555554444":   payhook.ResultFailed, // valid, but not a test card
	} {
		res, err := g.Pay(context.Background(), gateway.PaymentRequest{SessionID: "s", Amount: 86000, Currency: "KWD", Card: gateway.Card{Number: card}})
		require.NoError(t, err)
		require.Equal(t, want, res.Result, card)
		require.NotContains(t, string(res.Response), card, "the gateway's answer never carries the full card number")
		var m map[string]any
		require.NoError(t, json.Unmarshal(res.Response, &m), "the raw answer is a JSON object")
	}
}

func TestDeclines_AmountsWhoseDecimalsStartWith99(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		amount string
		ccy    string
		want   bool
	}{
		{"9.99", "USD", true}, {"9.990", "KWD", true}, {"9.995", "KWD", true}, {"199", "JPY", true},
		{"9.98", "USD", false}, {"99.00", "USD", false}, {"9.099", "KWD", false}, {"100", "JPY", false},
	} {
		a, err := payhook.ParseAmount(tt.amount, tt.ccy)
		require.NoError(t, err)
		require.Equal(t, tt.want, sandbox.Declines(a, tt.ccy), tt.amount)
		res, err := sandbox.New("credit-card", gateway.OperationPurchase).Operate(context.Background(), payhook.OpRefund,
			gateway.OperationRequest{SessionID: "s", ReferenceNumber: "r", Amount: a, Currency: tt.ccy})
		require.NoError(t, err)
		require.Equal(t, !tt.want, res.Success, tt.amount)
	}
}

func TestCard_ValidateNamesEachBadField(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	require.NoError(t, gateway.Card{Number: sandbox.CardSuccess, Expiry: "11/26", CVV: "123"}.Validate(now))
	err := gateway.Card{Number: "4111111111111112", Expiry: "10/26", CVV: "12", Holder: strings.Repeat("x", 65)}.Validate(now)
	var e *payhook.Error
	require.ErrorAs(t, err, &e)
	for _, f := range []string{"card_number", "card_expiry", "card_cvv", "card_holder"} {
		require.Contains(t, e.Fields, f)
	}
	require.Equal(t, "411111******1111", gateway.Card{Number: sandbox.CardSuccess}.Masked())
}
