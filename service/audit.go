package service

import (
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

// AuditLog returns the audit log, newest first.
func (s *Service) AuditLog(ctx context.Context, limit, offset int) ([]payhook.AuditEntry, int, error) {
	return s.store.ListAudit(ctx, limit, offset)
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
