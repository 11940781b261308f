package web

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/payhook/payhook"
)

// dateForm is how the dashboard's date filters are written (an HTML date input's value);
// the dates are days in UTC.
const dateForm = "2006-01-02"

// dateRange is a list's "created from … to …" filter: whole days in UTC, both included.
type dateRange struct {
	From, To string // as typed (kept in the form)
	// Since and Until bound created_at: Since <= created_at < Until (zero: no bound).
	Since, Until time.Time
}

// parseDateRange reads the from and to dates of q; problems name each bad field, whose
// filter is then not applied.
func parseDateRange(q url.Values) (dateRange, []string) {
	d := dateRange{From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to"))}
	var problems []string
	if d.From != "" {
		if t, err := time.Parse(dateForm, d.From); err != nil {
			problems = append(problems, "Created from: use a date such as 2026-03-04 (a day in UTC); the filter was not applied.")
		} else {
			d.Since = t
		}
	}
	if d.To != "" {
		if t, err := time.Parse(dateForm, d.To); err != nil {
			problems = append(problems, "Created to: use a date such as 2026-03-04 (a day in UTC); the filter was not applied.")
		} else {
			d.Until = t.AddDate(0, 0, 1)
		}
	}
	if !d.Since.IsZero() && !d.Until.IsZero() && !d.Since.Before(d.Until) {
		problems = append(problems, "Created to is before created from: the date filters were not applied.")
		d.Since, d.Until = time.Time{}, time.Time{}
	}
	return d, problems
}

// webhookStatuses are the transactions list's webhook filter, in the order it offers
// them: the outcome of each transaction's latest notification.
var webhookStatuses = []payhook.Status{payhook.StatusDelivered, payhook.StatusFailed, payhook.StatusPending,
	payhook.StatusNotSent, payhook.NoNotification}

// statusWords are notification statuses in words (the code is shown beside them).
var statusWords = map[payhook.Status]string{
	payhook.StatusDelivered: "Delivered",
	payhook.StatusFailed:    "Failed",
	payhook.StatusPending:   "Pending",
	payhook.StatusNotSent:   "Not sent",
	payhook.NoNotification:  "No notification",
}

// statusOption is one choice of a status filter.
type statusOption struct {
	Code  payhook.Status
	Words string
}

func statusOptions(list []payhook.Status) []statusOption {
	out := make([]statusOption, len(list))
	for i, s := range list {
		out[i] = statusOption{Code: s, Words: statusWords[s]}
	}
	return out
}

// transactionRow is a row of the transactions list.
type transactionRow struct {
	*payhook.Transaction
	// Child is the refund, capture or void the search found the transaction by (nil when
	// it matched by its own fields).
	Child *payhook.Child
	// Link is the transaction's page, anchored to Child when there is one.
	Link string
}

// Webhook is the outcome of the transaction's latest notification, in words and as its
// code ("none" without any).
func (r transactionRow) Webhook() statusOption {
	st := r.LastNotification
	if st == "" {
		st = payhook.NoNotification
	}
	return statusOption{Code: st, Words: statusWords[st]}
}

// ownMatch reports whether the search q finds t by its own fields (else by a child).
func ownMatch(t *payhook.Transaction, q string) bool {
	lq := strings.ToLower(q)
	return t.SessionID == q || t.ReferenceNumber == q || strings.Contains(strings.ToLower(t.OrderNo), lq) ||
		strings.Contains(strings.ToLower(t.Customer.Email), lq)
}

// transactionRows makes the list's rows; a transaction found by one of its children
// links to that child on its page.
func (s *Server) transactionRows(ctx context.Context, list []*payhook.Transaction, q string) ([]transactionRow, error) {
	rows := make([]transactionRow, len(list))
	for i, t := range list {
		rows[i] = transactionRow{Transaction: t, Link: DashboardPath + "/transactions/" + url.PathEscape(t.SessionID)}
		if q == "" || ownMatch(t, q) {
			continue
		}
		full, err := s.svc.Transaction(ctx, t.SessionID)
		if err != nil {
			return nil, err
		}
		for _, c := range full.Children {
			if c.SessionID == q || c.ReferenceNumber == q {
				rows[i].Child = &c
				rows[i].Link += "#child-" + url.PathEscape(c.SessionID)
				break
			}
		}
	}
	return rows, nil
}
