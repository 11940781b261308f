package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// callWithKey GETs the config API with an API key and returns the status.
func callWithKey(t *testing.T, env *phtest.Env, key string) int {
	t.Helper()
	req, err := http.NewRequest("GET", env.URL+configPath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Api-Key "+key)
	resp, err := env.Client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestDashboardAPIKeys_CreateUseRevoke(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	page := b.getOK("/dashboard/api-keys")
	require.Contains(t, page, "PAYHOOK_API_KEY", "the Env's key is listed")
	require.NotContains(t, page, phtest.APIKey, "never a key in full")
	require.True(t, hasID(page, "create-api-key"))
	require.Contains(t, page, `<label for="api-key-name">`)

	p := b.post("/dashboard/api-keys", url.Values{"name": {"shop backend"}})
	require.Equal(t, http.StatusOK, p.Code, "%s", p.Body)
	key := textOf(t, p.Body, "new-api-key")
	require.True(t, strings.HasPrefix(key, "ph_"), key)
	require.Equal(t, http.StatusOK, callWithKey(t, env, key), "the new key works on the API")

	page = b.getOK("/dashboard/api-keys")
	require.NotContains(t, page, key, "shown once only")
	require.Contains(t, page, "shop backend")
	require.Contains(t, page, "<code>"+key[:7]+"…</code>", "listed by its prefix")
	m := regexp.MustCompile(`<tr id="api-key-(\d+)">\s*<td>shop backend</td>`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	id := m[1]
	require.True(t, hasID(page, "revoke-"+id))

	page = b.postConfirmed("/dashboard/api-keys/"+id+"/revoke", nil, "/dashboard/api-keys?done=key_revoked")
	require.Equal(t, "API key revoked. It stops working at once.", flashOf(page))
	require.Equal(t, http.StatusUnauthorized, callWithKey(t, env, key), "a revoked key is refused at once")
	require.Equal(t, http.StatusOK, callWithKey(t, env, phtest.APIKey), "the other keys still work")
	require.False(t, hasID(page, "revoke-"+id))
	require.Regexp(t, `<tr id="api-key-`+id+`">\s*<td>shop backend</td>[\s\S]*?<span class="badge failed">revoked</span>`, page)
	require.Equal(t, "/dashboard/api-keys?done=key_already_revoked", b.post("/dashboard/api-keys/"+id+"/revoke", nil).Location, "already revoked")
	require.Equal(t, http.StatusNotFound, b.post("/dashboard/api-keys/abc/revoke", nil).Code)

	audit := b.getOK("/dashboard/audit?action=api_key.")
	require.Contains(t, audit, "api_key.create")
	require.Contains(t, audit, "api_key.revoke")
	require.NotContains(t, audit, key)
}

func TestDashboardAPIKeys_NameIsRequired(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	keys := countRows(t, env, "api_keys")
	for _, name := range []string{"", "   ", strings.Repeat("k", 101)} {
		p := b.post("/dashboard/api-keys", url.Values{"name": {name}})
		require.Equal(t, http.StatusBadRequest, p.Code)
		require.Contains(t, fieldError(p.Body, "name"), "Give the key a name")
		require.False(t, hasID(p.Body, "new-api-key"))
	}
	require.Equal(t, keys, countRows(t, env, "api_keys"))
}

func TestDashboardAudit_ShowsWhoChangedWhat(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	env.Configure(map[string]any{"retries": 5}) // through the API: the API key is the actor

	form := configFormOf(t, b.getOK(configPage))
	form.Set("timeout", "9")
	b.postRedirect(configPage, form, configPage+"?done=config")

	audit := b.getOK("/dashboard/audit?action=webhook.")
	rows := regexp.MustCompile(`(?s)<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>[^<]* <code>([^<]+)</code></td>\s*<td class="detail">([^<]*)</td>`).FindAllStringSubmatch(audit, -1)
	require.Len(t, rows, 2, audit)
	require.Equal(t, staffEmail, rows[0][2], "newest first, by the signed-in user")
	require.Equal(t, "webhook.config.update", rows[0][3])
	require.Equal(t, "timeout: 15 → 9", rows[0][4])
	require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`, rows[0][1])
	require.Equal(t, "API key test-…", rows[1][2])
	require.Equal(t, "retries: 3 → 5", rows[1][4])
}

func TestDashboardAudit_Paginates(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	for i := 0; i < 51; i++ {
		env.Configure(map[string]any{"retries": 1 + i%10})
	}
	one := b.getOK("/dashboard/audit")
	require.Contains(t, one, "Page 1 of 2 · 53 in all", "51 changes, the staff user's creation and sign-in")
	require.Equal(t, 50, strings.Count(one, "<code>webhook.config.update</code>"))
	two := b.getOK("/dashboard/audit?page=2")
	require.Equal(t, 1, strings.Count(two, "<code>webhook.config.update</code>"))
	require.Contains(t, two, `href="/dashboard/audit" rel="prev"`)
}
