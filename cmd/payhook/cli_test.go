package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/sqlite"
)

// These tests run the real binary as a user would, with no PAYHOOK_* variable but
// those a test sets.

// cleanEnv is the environment without PAYHOOK_* variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAYHOOK_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runPayhook runs the binary to its end and returns its exit code, stdout and stderr.
func runPayhook(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(payhookBinary(t), args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

// freeAddr returns a loopback address nothing listens on (closed again at once).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// storeCounts opens the SQLite file (no process may hold it) and reports its API keys
// and whether the user exists.
func storeCounts(t *testing.T, db, email string) (keys int, user bool) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	require.NoError(t, err)
	defer st.Close()
	list, err := st.ListAPIKeys(ctx)
	require.NoError(t, err)
	_, uerr := st.UserByEmail(ctx, email)
	return len(list), uerr == nil
}

const createdKey = "created an API key"

func TestServeBindsItsAddressBeforeTheFirstKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "payhook.db")
	code, _, stderr := runPayhook(t, cleanEnv(), "migrate", "--database", db)
	require.Zero(t, code, stderr)
	const admin = "first@shop.example"
	env := cleanEnv("PAYHOOK_ADMIN_EMAIL="+admin, "PAYHOOK_ADMIN_PASSWORD=first-admin-password")

	// The address is taken: serve fails with a clear error, and creates nothing whose
	// only display would be lost.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	code, stdout, stderr := runPayhook(t, env, "serve", "--addr", busy.Addr().String(), "--database", db)
	require.Equal(t, 1, code, "stdout %s\nstderr %s", stdout, stderr)
	require.Contains(t, stderr, "cannot listen on --addr "+busy.Addr().String())
	require.Contains(t, stderr, "address already in use")
	require.NotContains(t, stdout, createdKey)
	keys, user := storeCounts(t, db, admin)
	require.Zero(t, keys, "no API key was created")
	require.False(t, user, "no dashboard user was created")

	// On a free address the key is created and printed, once.
	addr := freeAddr(t)
	cmd := exec.Command(payhookBinary(t), "serve", "--addr", addr, "--database", db)
	cmd.Env = env
	out, logs := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	waitReady(t, "http://"+addr, done, logs)
	require.Equal(t, 1, strings.Count(out.String(), createdKey), "%s", out.String())
	key := regexp.MustCompile(`\n\s+(ph_\S+)\n`).FindStringSubmatch(out.String())
	require.NotNil(t, key, "%s", out.String())
	req, err := http.NewRequest("GET", "http://"+addr+"/b/webhook/v1/config/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Api-Key "+key[1])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the printed key works")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "%s", logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", logs.String())
	}
	keys, user = storeCounts(t, db, admin)
	require.Equal(t, 1, keys)
	require.True(t, user)

	// A later start prints no key.
	busy2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy2.Close()
	code, stdout, _ = runPayhook(t, env, "serve", "--addr", busy2.Addr().String(), "--database", db)
	require.Equal(t, 1, code)
	require.NotContains(t, stdout, createdKey)
}

// waitReady polls /readyz until it answers 200, failing if the process ends first.
func waitReady(t *testing.T, base string, done <-chan error, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("payhook serve exited before it was ready (%v):\n%s", err, logs.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "not ready after 10s:\n%s", logs.String())
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEachCommandsHelpListsItsOwnFlags(t *testing.T) {
	serveOnly := []string{"-addr", "-base-url", "-smtp-url", "-log-level", "-log-format", "-allow-private-urls", "-body-timeout"}
	for _, tc := range []struct {
		args    []string
		has     []string
		hasNot  []string
		hasText string
	}{
		{[]string{"serve", "-h"}, serveOnly, []string{"-email", "-scenario"}, "Usage: payhook serve"},
		{[]string{"migrate", "-h"}, []string{"-database"}, append(serveOnly, "-email"), "Usage: payhook migrate"},
		{[]string{"user", "create", "-h"}, []string{"-email", "-database"}, serveOnly, "Usage: payhook user create"},
		{[]string{"user", "-h"}, nil, serveOnly, "Usage: payhook user create"},
		{[]string{"sign", "-h"}, []string{"-key", "-version"}, append(serveOnly, "-database"), "payhook sign"},
		{[]string{"verify", "-h"}, []string{"-key"}, append(serveOnly, "-database", "-version"), "payhook verify"},
		{[]string{"verify-digest", "-h"}, []string{"-key", "-ids"}, append(serveOnly, "-database", "-version"), "payhook verify-digest"},
		{[]string{"bench", "-h"}, []string{"-scenario", "-runs"}, []string{"-smtp-url", "-log-level", "-email"}, "payhook bench"},
		{[]string{"version", "-h"}, nil, append(serveOnly, "-database"), "Usage: payhook version"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runPayhook(t, cleanEnv(), tc.args...)
			out := stdout + stderr
			require.Zero(t, code, out)
			require.Contains(t, out, tc.hasText)
			for _, f := range tc.has {
				require.Regexp(t, `(?m)^\s+`+regexp.QuoteMeta(f)+`\b`, out)
			}
			for _, f := range tc.hasNot {
				require.NotRegexp(t, `(?m)^\s+`+regexp.QuoteMeta(f)+`\b`, out)
			}
		})
	}
}

func TestInvalidLogOptionsAreRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "payhook.db")
	addr := freeAddr(t)
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--log-level", "verbose"}, `--log-level "verbose": want debug, info, warn or error`},
		{[]string{"PAYHOOK_LOG_LEVEL=loud"}, nil, `PAYHOOK_LOG_LEVEL "loud": want debug, info, warn or error`},
		{nil, []string{"--log-format", "xml"}, `--log-format "xml": want text or json`},
		{[]string{"PAYHOOK_LOG_FORMAT=yaml"}, nil, `PAYHOOK_LOG_FORMAT "yaml": want text or json`},
		{[]string{"PAYHOOK_LOG_LEVEL=debug"}, []string{"--log-level", "noisy"}, `--log-level "noisy"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			args := append([]string{"serve", "--addr", addr, "--database", db}, tc.args...)
			code, stdout, stderr := runPayhook(t, cleanEnv(tc.env...), args...)
			require.Equal(t, 2, code, "stdout %s\nstderr %s", stdout, stderr)
			require.Contains(t, stderr, tc.want)
			require.NoFileExists(t, db, "nothing was created")
		})
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		code, stdout, stderr := runPayhook(t, cleanEnv(), arg)
		require.Zero(t, code, stderr)
		require.True(t, strings.HasPrefix(stdout, "payhook "), stdout)
		require.Contains(t, stdout, runtime.Version())
		require.Contains(t, stdout, runtime.GOOS+"/"+runtime.GOARCH)
		// The binary names the revision it was stamped with (a build from a git checkout
		// is, unless -buildvcs=false), as "go version -m" reads it.
		meta, err := exec.Command("go", "version", "-m", payhookBinary(t)).Output()
		require.NoError(t, err)
		if m := regexp.MustCompile(`vcs\.revision=(\S+)`).FindSubmatch(meta); m != nil {
			require.Contains(t, stdout, "revision "+string(m[1]))
		} else {
			require.NotContains(t, stdout, "revision", "no revision was stamped")
		}
		if m := regexp.MustCompile(`(?m)^\s+mod\s+\S+\s+(\S+)`).FindSubmatch(meta); m != nil {
			require.Contains(t, stdout, "payhook "+string(m[1])+" ")
		}
	}
}
