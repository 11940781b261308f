package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/signature"
)

// DigestDateLayout is how a digest names its UTC day.
const DigestDateLayout = time.DateOnly

// Reconciliation lists the notifications of f's window that were not acknowledged
// (pending, failed, held: everything with a URL but delivered and not_sent), oldest
// first. The caller bounds the window (payhook.MaxReconciliationWindow).
func (s *Service) Reconciliation(ctx context.Context, f payhook.ReconciliationFilter) ([]*payhook.Notification, int, error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		f.Limit = min(max(f.Limit, 50), MaxPageSize)
	}
	return s.store.Unacknowledged(ctx, f)
}

// DayDigest is the digest of one URL and UTC day, as the API serves it.
type DayDigest struct {
	signature.Digest
	// IDs are the webhook-ids the digest counts, sorted.
	IDs []string
	// Final is true once the day has ended (until then the digest counts so far).
	Final bool
}

// Digest returns the digest of the notifications delivered to url on the UTC day that
// starts at day, signed with the current HMAC key, and the ids it counts. A day with
// nothing delivered has count 0 and the hash of no id; today's digest counts so far; a
// day that has not begun is an EINVALID error on "date".
func (s *Service) Digest(ctx context.Context, url string, day time.Time) (*DayDigest, error) {
	day = startOfDay(day)
	now := s.clock.Now()
	if day.After(now) {
		fe := payhook.FieldErrors{}
		fe.Add("date", "%s has not begun yet (UTC).", day.Format(DigestDateLayout))
		return nil, fe.Err()
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	end := day.AddDate(0, 0, 1)
	got, err := s.store.DeliveredIDs(ctx, url, day, end)
	if err != nil {
		return nil, err
	}
	ids := got[url]
	if ids == nil {
		ids = []string{}
	}
	return &DayDigest{Digest: signature.NewDigest(st.HMACKey, url, day.Format(DigestDateLayout), ids), IDs: ids,
		Final: !now.Before(end)}, nil
}

// DigestNotificationID is the webhook-id of the digest notification of url and day: the
// same in every process, so that the store keeps one (payhook.Store.AddDigestNotification).
func DigestNotificationID(url string, day time.Time) string {
	sum := sha256.Sum256([]byte(url + "\n" + startOfDay(day).Format(DigestDateLayout)))
	return "digest_" + hex.EncodeToString(sum[:16])
}

// SendDigests sends the digest notifications of the UTC day that starts at day: one to
// every URL that a notification (not a digest) was delivered to that day, its body the
// signed digest as JSON (whose "signature" is the digest's), through the normal engine.
// A digest already stored (by this process or another) is not sent again. Nothing is sent
// while notifications are off or digest_notifications is. It returns how many digests it
// stored.
func (s *Service) SendDigests(ctx context.Context, day time.Time) (int, error) {
	c, err := s.config(ctx)
	if err != nil {
		return 0, err
	}
	st := c.settings
	if !st.Enabled || !st.DigestNotifications {
		return 0, nil
	}
	day = startOfDay(day)
	byURL, err := s.store.DeliveredIDs(ctx, "", day, day.AddDate(0, 0, 1))
	if err != nil {
		return 0, err
	}
	urls := make([]string, 0, len(byURL))
	for u := range byURL {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	sent := 0
	for _, u := range urls {
		d := signature.NewDigest(st.HMACKey, u, day.Format(DigestDateLayout), byURL[u])
		body, err := json.Marshal(d)
		if err != nil {
			return sent, err
		}
		now := s.clock.Now().UTC()
		n := &payhook.Notification{ID: DigestNotificationID(u, day), Kind: payhook.KindDigest, URL: u,
			ReferenceNumber: d.Date, Status: payhook.StatusPending, CreatedAt: now, UpdatedAt: now,
			Body: body, ContentType: "application/json", NextAttemptAt: now}
		added, err := s.store.AddDigestNotification(ctx, n, s.engine.Lease(st))
		if err != nil {
			return sent, fmt.Errorf("digest of %s for %s: %w", d.Date, u, err)
		}
		if added {
			s.engine.Enqueue(n)
			sent++
		}
	}
	return sent, nil
}

// RunDigests sends, every interval until ctx ends, the digest notifications of the day
// before today (UTC) in one process at a time of those sharing the database (the holder
// of the "digest" role), once per day per process: a process that was down for a whole
// day misses that day's digests (the API still answers for it).
func (s *Service) RunDigests(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var done time.Time // the last day whose digests this process sent
	for {
		now := s.clock.Now()
		day := startOfDay(now).AddDate(0, 0, -1)
		if st, err := s.Settings(ctx); err == nil && st.Enabled && st.DigestNotifications && !day.Equal(done) {
			lead, err := s.store.Lead(ctx, "digest", s.owner, now.Add(3*interval+time.Second), now)
			if err == nil && lead {
				if _, err = s.SendDigests(ctx, day); err == nil {
					done = day
				}
			}
			if err != nil && ctx.Err() == nil {
				s.log.Error("send digests", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startOfDay returns the UTC midnight that starts t's UTC day.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
