package service

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/payhook/payhook"
)

type actorKey struct{}

// WithActor names who acts in ctx ("admin@example.com", "API key ph_ab12cd"), for the
// audit log.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns who acts in ctx, "system" when nobody was named.
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

type initiatorKey struct{}

// WithInitiator records the dashboard (or Basic-auth) user acting in ctx; payloads name
// them as initiator.
func WithInitiator(ctx context.Context, in *payhook.Initiator) context.Context {
	return context.WithValue(ctx, initiatorKey{}, in)
}

func initiatorOf(ctx context.Context) *payhook.Initiator {
	in, _ := ctx.Value(initiatorKey{}).(*payhook.Initiator)
	return in
}

// audit appends an entry; a failure is logged, never returned (the change is made).
func (s *Service) audit(ctx context.Context, action, detail string) {
	e := payhook.AuditEntry{At: s.clock.Now().UTC(), Actor: Actor(ctx), Action: action, Detail: detail}
	if err := s.store.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit log", "action", action, "err", err)
	}
}

// auditPerson appends an entry when a person acts in ctx (a dashboard user, or a user's
// Basic auth on the APIs). What merchants' servers do with an API key on transactions is
// in the transactions and the delivery log already, and would flood the audit log.
func (s *Service) auditPerson(ctx context.Context, action, detail string) {
	if initiatorOf(ctx) != nil {
		s.audit(ctx, action, detail)
	}
}

// auditOperation records a person's refund, capture, void, cancel, expire or delete: the
// amount asked, the transaction, and what came of it.
func (s *Service) auditOperation(ctx context.Context, req *payhook.OperationRequest, sessionID string, a *Answer, err error) {
	if initiatorOf(ctx) == nil || req == nil {
		return
	}
	var b strings.Builder
	b.WriteString(req.Operation)
	var ans struct {
		Amount   string `json:"amount"`
		Result   string `json:"result"`
		Detail   string `json:"detail"`
		Currency string `json:"currency_code"`
		OrderNo  string `json:"order_no"`
		Txn      struct {
			Currency string `json:"currency_code"`
		} `json:"txn"`
	}
	if a != nil {
		json.Unmarshal(a.Body, &ans)
	}
	switch amount := cmp.Or(ans.Amount, req.AmountText); {
	case amount != "" && (req.Operation == "refund" || req.Operation == "capture" || req.Operation == "void"):
		fmt.Fprintf(&b, " of %s %s", amount, cmp.Or(ans.Currency, ans.Txn.Currency))
	}
	fmt.Fprintf(&b, " on session %s", cmp.Or(sessionID, req.SessionID))
	if o := cmp.Or(ans.OrderNo, req.OrderNo); o != "" {
		fmt.Fprintf(&b, " (order_no %s)", o)
	}
	switch {
	case err != nil:
		fmt.Fprintf(&b, ": refused: %s", payhook.ErrorMessage(err))
	case ans.Result != "":
		fmt.Fprintf(&b, ": %s", ans.Result)
	case ans.Detail != "":
		fmt.Fprintf(&b, ": %s (HTTP %d)", ans.Detail, a.StatusCode)
	case a != nil:
		fmt.Fprintf(&b, ": HTTP %d", a.StatusCode)
	}
	s.audit(ctx, "operation."+req.Operation, strings.TrimSpace(b.String()))
}

// AuditLog returns the matching audit entries, newest first, and how many match.
func (s *Service) AuditLog(ctx context.Context, f payhook.AuditFilter) ([]payhook.AuditEntry, int, error) {
	return s.store.ListAudit(ctx, f)
}

// settingsDiff describes what changed between two settings, secrets never in full.
func settingsDiff(before, after payhook.Settings, rot payhook.Rotations) string {
	var parts []string
	b, _ := json.Marshal(before.Masked())
	a, _ := json.Marshal(after.Masked())
	var bm, am map[string]any
	json.Unmarshal(b, &bm)
	json.Unmarshal(a, &am)
	keys := make([]string, 0, len(am))
	for k := range am {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "hmac_key":
			if before.HMACKey != after.HMACKey {
				if rot.HMACKey {
					parts = append(parts, "hmac_key rotated")
				} else {
					parts = append(parts, "hmac_key replaced")
				}
			}
		case k == "standard_webhooks_secret":
			if before.StandardWebhooksSecret != after.StandardWebhooksSecret {
				parts = append(parts, "standard_webhooks_secret rotated")
			}
		case !reflect.DeepEqual(bm[k], am[k]):
			parts = append(parts, fmt.Sprintf("%s: %v → %v", k, jsonText(bm[k]), jsonText(am[k])))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
