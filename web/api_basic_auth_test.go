package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// basicRequest sends an API request with a dashboard user's Basic credentials.
func basicRequest(t *testing.T, env *phtest.Env, method, path, user, password string, body any, header http.Header) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, env.URL+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := env.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// A dashboard user may call the APIs with Basic auth, as Ottu allows; the user is then the
// initiator of what they do. Wrong credentials are a 401; a browser sending them from
// another site is refused (CSRF).
func TestAPI_BasicAuthNamesTheInitiator(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	createStaff(t, env)
	sid := paidCheckout(t, env, ops, nil)
	refund := map[string]any{"operation": "refund", "session_id": sid, "amount": "1"}

	code, body := basicRequest(t, env, "POST", operationPath, staffEmail, staffPassword, refund, nil)
	require.Equal(t, http.StatusOK, code, "%v", body)
	initiator, ok := body["initiator"].(map[string]any)
	require.True(t, ok, "initiator in %v", body)
	require.Equal(t, staffEmail, initiator["email"])

	code, _ = basicRequest(t, env, "POST", operationPath, staffEmail, "wrong-password", refund, nil)
	require.Equal(t, http.StatusUnauthorized, code)

	code, body = basicRequest(t, env, "POST", operationPath, staffEmail, staffPassword, refund,
		http.Header{"Origin": {"https://evil.example"}})
	require.Equal(t, http.StatusForbidden, code, "%v", body)
	code, _ = basicRequest(t, env, "POST", operationPath, staffEmail, staffPassword, refund,
		http.Header{"Sec-Fetch-Site": {"cross-site"}})
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "1.000", inquiry(t, env, sid)["refunded_amount"], "only the first refund happened")
}
