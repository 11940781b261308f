package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchPostgres is the PostgreSQL server that --database names. The bench never empties
// or recreates anything of its own accord: when the URL's user may create databases,
// each run gets a database of its own (payhook_bench_<random>), dropped after the run;
// otherwise every run uses the URL's database as it is, which should be a throwaway one.
type benchPostgres struct {
	raw       string
	url       *url.URL
	user      string
	dbName    string
	version   string
	canCreate bool
	stderr    io.Writer

	mu   sync.Mutex
	live map[string]bool // databases created and not dropped yet
}

func openBenchPostgres(ctx context.Context, raw string, stderr io.Writer) (*benchPostgres, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--database: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	defer conn.Close(ctx)
	p := &benchPostgres{raw: raw, url: u, stderr: stderr}
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_user, current_database(),
		COALESCE((SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user), false)`).
		Scan(&p.version, &p.user, &p.dbName, &p.canCreate)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", u.Redacted(), err)
	}
	return p, nil
}

// describe names the server and what the runs do on it, for the output.
func (p *benchPostgres) describe() string {
	where := fmt.Sprintf("PostgreSQL %s at %s", p.version, p.url.Host)
	if p.canCreate {
		return where + ", a fresh database per run (payhook_bench_<random>, dropped after)"
	}
	return where + ", database " + p.dbName + " as it is"
}

// runDatabase returns the URL a run uses and what to do after it: a new database, dropped
// after, when the user may create one; else the URL itself, left as it is.
func (p *benchPostgres) runDatabase(ctx context.Context) (string, func(), error) {
	if !p.canCreate {
		return p.raw, func() {}, nil
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	name := "payhook_bench_" + hex.EncodeToString(b[:])
	if err := p.exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	p.mu.Lock()
	if p.live == nil {
		p.live = map[string]bool{}
	}
	p.live[name] = true
	p.mu.Unlock()
	u := *p.url
	u.Path = "/" + name
	return u.String(), func() { p.drop(name) }, nil
}

func (p *benchPostgres) drop(name string) {
	// WITH (FORCE) closes what a killed payhook serve may have left open.
	if err := p.exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		fmt.Fprintf(p.stderr, "payhook bench: could not drop database %s (drop it by hand): %v\n", name, err)
		return
	}
	p.mu.Lock()
	delete(p.live, name)
	p.mu.Unlock()
}

// dropAll drops the databases of runs cut short.
func (p *benchPostgres) dropAll() {
	p.mu.Lock()
	var names []string
	for n := range p.live {
		names = append(names, n)
	}
	p.mu.Unlock()
	for _, n := range names {
		p.drop(n)
	}
}

// exec runs one statement on a connection of its own (CREATE and DROP DATABASE cannot
// run inside a transaction, nor while connected to the database dropped).
func (p *benchPostgres) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.raw)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// pids returns the process ids of the server's processes (backends and background
// workers) when the server runs on this box, so that the bench can tell PostgreSQL's
// share of the CPU; nil otherwise.
func (p *benchPostgres) pids(ctx context.Context) []int {
	host := p.url.Hostname()
	if host != "127.0.0.1" && host != "localhost" && host != "::1" && host != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.raw)
	if err != nil {
		return nil
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()`)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := make([]int, len(pids))
	for i, pid := range pids {
		out[i] = int(pid)
	}
	return out
}
