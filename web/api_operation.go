package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/service"
)

// operation is POST /b/pbl/v2/operation/ (SPEC §2, §6), idempotent by Tracking-Key.
func (s *Server) operation(w http.ResponseWriter, r *http.Request) error {
	raw, body, err := readObject(r)
	if err != nil {
		return err
	}
	a, err := s.svc.Operate(r.Context(), raw, body, r.Header.Get("Tracking-Key"))
	if err != nil {
		return err
	}
	writeRaw(w, a.StatusCode, a.Body)
	return nil
}

// inquiry is POST /b/pbl/v2/inquiry/: the payment notification's shape; with
// notify_webhook_url the notification is sent again.
func (s *Server) inquiry(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	req, err := service.DecodeInquiry(body)
	if err != nil {
		return err
	}
	answer, err := s.svc.Inquire(r.Context(), req)
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, answer)
	return nil
}

// sign is POST /b/pbl/v2/sign: {"signature": "…"} of the posted payload.
func (s *Server) sign(w http.ResponseWriter, r *http.Request) error {
	raw, _, err := readObject(r)
	if err != nil {
		return err
	}
	sig, err := s.svc.Sign(r.Context(), raw)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"signature": sig})
	return nil
}

// paymentMethods is POST (and, as a convenience, GET with query parameters)
// /b/pbl/v2/payment-methods/: the gateway codes a plugin and currency can use.
func (s *Server) paymentMethods(w http.ResponseWriter, r *http.Request) error {
	var q service.PaymentMethodsQuery
	if r.Method == http.MethodGet {
		v := r.URL.Query()
		q.Plugin, q.Operation, q.Type = v.Get("plugin"), v.Get("operation"), v.Get("type")
		q.Tokenizable, q.AutoDebit = v.Get("tokenizable") == "true", v.Get("auto_debit") == "true"
		for _, c := range v["currencies"] {
			q.Currencies = append(q.Currencies, splitComma(c)...)
		}
		for _, c := range v["pg_names"] {
			q.PGNames = append(q.PGNames, splitComma(c)...)
		}
	} else {
		body, err := decodeObject(r)
		if err != nil {
			return err
		}
		fe := payhook.FieldErrors{}
		for name, raw := range body {
			var err error
			switch name {
			case "plugin":
				err = decodeStrict(raw, &q.Plugin)
			case "operation":
				err = decodeStrict(raw, &q.Operation)
			case "currencies":
				err = decodeStrict(raw, &q.Currencies)
			case "type":
				err = decodeStrict(raw, &q.Type)
			case "tokenizable":
				err = decodeStrict(raw, &q.Tokenizable)
			case "auto_debit":
				err = decodeStrict(raw, &q.AutoDebit)
			case "pg_names":
				err = decodeStrict(raw, &q.PGNames)
			}
			if err != nil {
				fe.Add(name, "%s", err.Error())
			}
		}
		if err := fe.Err(); err != nil {
			return err
		}
	}
	answer, err := s.svc.PaymentMethods(q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, answer)
	return nil
}

// resendMatching is POST /b/webhook/v1/notifications/resend/ with the list's filters:
// every delivered or failed match is sent again in the background; 202 {"count": N}.
func (s *Server) resendMatching(w http.ResponseWriter, r *http.Request) error {
	f, err := notificationFilter(r.URL.Query())
	if err != nil {
		return err
	}
	n, err := s.svc.ResendMatching(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"count": n})
	return nil
}

// readObject reads a body that must be a JSON object, returning its bytes and fields.
func readObject(r *http.Request) ([]byte, map[string]json.RawMessage, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	body, err := decodeObject(r)
	return raw, body, err
}

func writeRaw(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

func splitComma(s string) []string {
	var out []string
	for _, p := range bytes.Split([]byte(s), []byte(",")) {
		if t := string(bytes.TrimSpace(p)); t != "" {
			out = append(out, t)
		}
	}
	return out
}
