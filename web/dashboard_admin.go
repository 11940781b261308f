package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

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
}

// auditGet is GET /dashboard/audit: who changed what, when, newest first.
func (s *Server) auditGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	page := pageParam(r)
	entries, total, err := s.svc.AuditLog(r.Context(), dashPageSize, (page-1)*dashPageSize)
	if err != nil {
		return err
	}
	s.renderDash(w, http.StatusOK, "dash_audit", d.view(r, "Audit log", "audit", auditPage{Entries: entries, Pager: newPager(r, page, total)}))
	return nil
}
