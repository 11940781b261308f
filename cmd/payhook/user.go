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
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: payhook user create --email EMAIL [--role admin|operator|viewer] [--database FILE]  (password on stdin or in PAYHOOK_ADMIN_PASSWORD; role admin when not given)")
		return 2
	}
	var email string
	role := string(payhook.RoleAdmin)
	rest := []string{}
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--email" && i+1 < len(args):
			email = args[i+1]
			i++
		case strings.HasPrefix(a, "--email="):
			email = strings.TrimPrefix(a, "--email=")
		case a == "--role" && i+1 < len(args):
			role = args[i+1]
			i++
		case strings.HasPrefix(a, "--role="):
			role = strings.TrimPrefix(a, "--role=")
		default:
			rest = append(rest, a)
		}
	}
	if email == "" {
		email = os.Getenv("PAYHOOK_ADMIN_EMAIL")
	}
	o, err := parseOptions("user create", rest, stderr)
	if err != nil {
		return usageExit(err, stderr)
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
	store, _, err := app.OpenStore(ctx, o.database)
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
