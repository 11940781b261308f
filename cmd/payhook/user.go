package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/app"
	"github.com/payhook/payhook/service"
)

// runUser implements "payhook user create --email EMAIL [--role admin|operator|viewer]"
// (admin when no role is given): the password comes from
// PAYHOOK_ADMIN_PASSWORD or the first line of standard input, never from a flag (flags
// show in process lists).
func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const usage = "Usage: payhook user create --email EMAIL [--role admin|operator|viewer] [--database FILE|URL]  (password on stdin or in PAYHOOK_ADMIN_PASSWORD)\n\nRun \"payhook user create -h\" for its flags."
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(stdout, usage)
		return 0
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := newFlagSet("user create", "--email EMAIL [--role admin|operator|viewer] [--database FILE|URL]  (password on stdin or in PAYHOOK_ADMIN_PASSWORD)", stderr)
	var email, database, role string
	fs.StringVar(&email, "email", os.Getenv("PAYHOOK_ADMIN_EMAIL"), "the user's email, their sign-in name (PAYHOOK_ADMIN_EMAIL)")
	fs.StringVar(&role, "role", string(payhook.RoleAdmin), "what the user may do: admin (everything), operator (transactions, operations, re-sends) or viewer (read only)")
	dbFlag(fs, &database)
	if err := fs.Parse(args[1:]); err != nil {
		return usageExit(err, stderr)
	}
	if fs.NArg() > 0 {
		return usageExit(fmt.Errorf("unexpected argument %q", fs.Arg(0)), stderr)
	}
	if email == "" {
		fmt.Fprintln(stderr, "payhook user create: --email is required")
		return 2
	}
	r, err := payhook.ParseRole(role)
	if err != nil {
		fmt.Fprintf(stderr, "payhook user create: --role: %v\n", err)
		return 2
	}
	password := os.Getenv("PAYHOOK_ADMIN_PASSWORD")
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(stderr, "payhook user create: give the password on standard input (or in PAYHOOK_ADMIN_PASSWORD)")
			return 2
		}
		password = strings.TrimRight(line, "\r\n")
	}
	ctx := context.Background()
	store, _, err := app.OpenStore(ctx, database)
	if err != nil {
		fmt.Fprintf(stderr, "payhook user create: %v\n", err)
		return 1
	}
	defer store.Close()
	svc := service.New(service.Config{Store: store})
	if _, err := svc.CreateUser(service.WithActor(ctx, "payhook user create"), email, password, r); err != nil {
		fmt.Fprintf(stderr, "payhook user create: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "payhook: created the dashboard user %s (%s)\n", email, r)
	return 0
}
