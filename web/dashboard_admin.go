package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/payhook/payhook"
)

// apiKeysPage is the data of the API keys page.
type apiKeysPage struct {
	Keys    []payhook.APIKey
	Name    string
	NewKey  string // shown once, right after it was created
	NewName string
	Errors  payhook.FieldErrors
}

func (s *Server) renderAPIKeys(w http.ResponseWriter, r *http.Request, d *dash, code int, p apiKeysPage, problem string) error {
	keys, err := s.svc.APIKeys(r.Context())
	if err != nil {
		return err
	}
	p.Keys = keys
	v := d.view(r, "API keys", "api-keys", p)
	if problem != "" {
		v.Flash, v.Problem = "", problem
	}
	s.renderDash(w, code, "dash_api_keys", v)
	return nil
}

// apiKeysGet is GET /dashboard/api-keys: name, prefix, created, revoked.
func (s *Server) apiKeysGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	return s.renderAPIKeys(w, r, d, http.StatusOK, apiKeysPage{}, "")
}

// apiKeysPost is POST /dashboard/api-keys: creates a key and shows it this once.
func (s *Server) apiKeysPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	key, err := s.svc.CreateAPIKey(r.Context(), name)
	if errs := fieldErrors(err); errs != nil {
		return s.renderAPIKeys(w, r, d, http.StatusBadRequest, apiKeysPage{Name: name, Errors: errs}, "No key was created: correct the name.")
	}
	if err != nil {
		return err
	}
	return s.renderAPIKeys(w, r, d, http.StatusOK, apiKeysPage{NewKey: key, NewName: name}, "")
}

// apiKeyRevoke is POST /dashboard/api-keys/{id}/revoke: the list's button answers a
// confirmation page naming the key (nothing done); its confirmation (confirm=1) revokes.
// A key already revoked (a confirmation sent twice) is left as it is.
func (s *Server) apiKeyRevoke(w http.ResponseWriter, r *http.Request, d *dash) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return payhook.Errorf(payhook.ENOTFOUND, "No API key %q.", r.PathValue("id"))
	}
	keys, err := s.svc.APIKeys(r.Context())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k payhook.APIKey) bool { return k.ID == id })
	if i < 0 {
		return payhook.Errorf(payhook.ENOTFOUND, "No API key %d.", id)
	}
	if !keys[i].RevokedAt.IsZero() {
		seeOther(w, r, DashboardPath+"/api-keys", "key_already_revoked")
		return nil
	}
	if !confirmed(r) {
		return s.renderConfirm(w, r, d, "api-keys", apiKeyRevokeConfirmation(keys[i]))
	}
	if err := s.svc.RevokeAPIKey(r.Context(), id); err != nil {
		if payhook.ErrorCode(err) == payhook.ENOTFOUND {
			// Revoked meanwhile (the same confirmation sent twice at once).
			seeOther(w, r, DashboardPath+"/api-keys", "key_already_revoked")
			return nil
		}
		return err
	}
	seeOther(w, r, DashboardPath+"/api-keys", "key_revoked")
	return nil
}

// auditPage is the data of the audit log.
type auditPage struct {
	Entries []payhook.AuditEntry
	Pager   pager
	Filter  auditForm
	Actions []string
	CSV     string // the CSV export of the same filter
	Problem string
}

// auditForm is the audit log's filter as the form sends it.
type auditForm struct {
	Actor, Action, Query, From, To string
}

// auditActions are the actions the filter offers (a prefix ending in "." selects a group).
var auditActions = []string{"sign_in", "sign_in.failed", "user.", "operation.", "payment_request.create",
	"transaction.notify_again", "notification.", "notification.resend", "notification.resend_bulk", "notification.test", "endpoint.resume",
	"webhook.", "webhook.config.update", "webhook.plugin.", "api_key."}

// auditWords say what an audit action is, in words (the action's code is shown beside).
var auditWords = map[string]string{
	"sign_in":                  "Signed in",
	"endpoint.resume":          "Webhook URL resumed",
	"sign_in.failed":           "Failed sign-in",
	"user.create":              "User added",
	"user.role":                "Role changed",
	"user.password_reset":      "Password reset",
	"user.password_change":     "Own password changed",
	"user.deactivate":          "User deactivated",
	"user.reactivate":          "User activated again",
	"operation.refund":         "Refund",
	"operation.capture":        "Capture",
	"operation.void":           "Void",
	"operation.cancel":         "Cancel",
	"operation.expire":         "Expire",
	"operation.delete":         "Delete",
	"payment_request.create":   "Payment request created",
	"transaction.notify_again": "Notify again",
	"notification.":            "Any re-send or test",
	"notification.resend":      "Re-send",
	"notification.resend_bulk": "Bulk re-send",
	"notification.test":        "Test notification",
	"webhook.":                 "Any configuration change",
	"webhook.config.update":    "Webhook Config changed",
	"webhook.plugin.":          "Any plugin config change",
	"webhook.plugin.put":       "Plugin config saved",
	"webhook.plugin.delete":    "Plugin config deleted",
	"api_key.":                 "Any API key change",
	"api_key.create":           "API key created",
	"api_key.revoke":           "API key revoked",
	"user.":                    "Any user change",
	"operation.":               "Any operation",
}

// auditWord is an audit action in words; an unknown one reads as its code.
func auditWord(action string) string {
	if w, ok := auditWords[action]; ok {
		return w
	}
	return action
}

// auditFilter reads the audit log's filter from the query: from and to are dates
// (YYYY-MM-DD, UTC, to inclusive) or RFC 3339 times.
func auditFilter(r *http.Request) (payhook.AuditFilter, auditForm, string) {
	q := r.URL.Query()
	form := auditForm{Actor: strings.TrimSpace(q.Get("actor")), Action: q.Get("action"), Query: strings.TrimSpace(q.Get("q")),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to"))}
	f := payhook.AuditFilter{Actor: form.Actor, Action: form.Action, Query: form.Query}
	var problems []string
	if form.From != "" {
		t, err := parseDay(form.From, false)
		if err != nil {
			problems = append(problems, "From: "+err.Error())
		}
		f.Since = t
	}
	if form.To != "" {
		t, err := parseDay(form.To, true)
		if err != nil {
			problems = append(problems, "To: "+err.Error())
		}
		f.Until = t
	}
	return f, form, strings.Join(problems, " ")
}

// parseDay reads a date (YYYY-MM-DD, UTC) or an RFC 3339 time; with end, a date means the
// end of that day.
func parseDay(v string, end bool) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("use a date like 2026-12-05 (UTC) or an RFC 3339 time, not %q", v)
}

// auditGet is GET /dashboard/audit: who changed what, when, newest first, filtered by
// who, what and when.
func (s *Server) auditGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	page := pageParam(r)
	f, form, problem := auditFilter(r)
	f.Limit, f.Offset = dashPageSize, (page-1)*dashPageSize
	p := auditPage{Filter: form, Actions: auditActions, Problem: problem}
	code := http.StatusOK
	if problem != "" {
		code = http.StatusBadRequest
	} else {
		entries, total, err := s.svc.AuditLog(r.Context(), f)
		if err != nil {
			return err
		}
		p.Entries, p.Pager = entries, newPager(r, page, total)
	}
	q := r.URL.Query()
	q.Del("page")
	q.Del("done")
	p.CSV = DashboardPath + "/audit.csv"
	if enc := q.Encode(); enc != "" {
		p.CSV += "?" + enc
	}
	v := d.view(r, "Audit log", "audit", p)
	if problem != "" {
		v.Problem = problem + " Nothing is listed until the dates are corrected."
	}
	s.renderDash(w, code, "dash_audit", v)
	return nil
}

// auditCSV is GET /dashboard/audit.csv: the whole filtered audit log as CSV (UTF-8,
// RFC 4180; times RFC 3339 UTC). Cells that a spreadsheet would run as a formula are
// prefixed with a quote.
func (s *Server) auditCSV(w http.ResponseWriter, r *http.Request, d *dash) error {
	f, _, problem := auditFilter(r)
	if problem != "" {
		return payhook.Errorf(payhook.EINVALID, "%s", problem)
	}
	entries, _, err := s.svc.AuditLog(r.Context(), f)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="payhook-audit-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "at", "actor", "action", "detail"})
	for _, e := range entries {
		cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), csvCell(e.Actor), csvCell(e.Action), csvCell(e.Detail)})
	}
	cw.Flush()
	return cw.Error()
}

// csvCell defuses a cell a spreadsheet would read as a formula (CSV injection).
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
