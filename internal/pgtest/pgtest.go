// Package pgtest gives tests a fresh PostgreSQL database of their own on the test server
// named by PAYHOOK_TEST_POSTGRES (.ci/run starts one and sets it).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// announce prints the skip message once per test binary.
var announce sync.Once

// EnvVar names the environment variable holding the admin URL of the test server, e.g.
// postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable.
const EnvVar = "PAYHOOK_TEST_POSTGRES"

// URL creates a fresh, empty database on the test server and returns its URL; the
// database is dropped (its connections closed) when the test ends. Without
// PAYHOOK_TEST_POSTGRES the test is skipped, loudly — except under CI=true, where it
// fails: CI must never pass by skipping the PostgreSQL tests.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvVar)
	if admin == "" {
		const how = ".ci/run starts a server (or start one yourself and set " + EnvVar +
			"=postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable)"
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL tests cannot run: " + EnvVar + " is not set, and under CI=true they must not be skipped; " + how)
		}
		msg := "*** PostgreSQL tests skipped: " + EnvVar + " is not set; " + how + " ***"
		// Once per test binary on stderr too: a skip alone shows only under go test -v.
		announce.Do(func() { fmt.Fprintln(os.Stderr, msg) })
		t.Skip(msg)
	}
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a postgres:// URL: %q", EnvVar, admin)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "payhook_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, admin, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database on %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// exec runs one statement on a connection of its own.
func exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
