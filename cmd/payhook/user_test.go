package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/app"
)

func TestUserCreate_WithARole(t *testing.T) {
	db := filepath.Join(t.TempDir(), "payhook.db")
	t.Setenv("PAYHOOK_ADMIN_PASSWORD", "")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runUser(append([]string{"create"}, append(args, "--database", db)...), strings.NewReader("a-good-password\n"), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, _ := run("--email", "vera@shop.example", "--role", "viewer")
	require.Equal(t, 0, code)
	require.Contains(t, out, "created the dashboard user vera@shop.example (viewer)")
	code, out, _ = run("--email=ada@shop.example")
	require.Equal(t, 0, code)
	require.Contains(t, out, "(admin)", "admin when no role is given")
	code, _, errOut := run("--email", "bob@shop.example", "--role", "boss")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `--role: unknown role "boss": use admin, operator or viewer`)

	store, _, err := app.OpenStore(context.Background(), db)
	require.NoError(t, err)
	defer store.Close()
	users, err := store.ListUsers(context.Background())
	require.NoError(t, err)
	require.Len(t, users, 2, "the refused one was not created")
	require.Equal(t, payhook.RoleViewer, users[0].Role)
	require.Equal(t, payhook.RoleAdmin, users[1].Role)
	entries, _, err := store.ListAudit(context.Background(), payhook.AuditFilter{Action: "user.create"})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "payhook user create", entries[0].Actor)
}
