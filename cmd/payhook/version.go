package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// versionLine describes this binary: the module version (a tagged release, or "(devel)"
// for a build from a checkout), the VCS revision and time the build was stamped with,
// and the Go version and platform.
func versionLine() string {
	version, vcs := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		var rev, at, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", modified"
				}
			}
		}
		if rev != "" {
			vcs = fmt.Sprintf(" (revision %s, %s%s)", rev, at, modified)
		}
	}
	return fmt.Sprintf("payhook %s%s %s %s/%s", version, vcs, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// runVersion implements "payhook version".
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "Usage: payhook version\n\nPrints the version, the revision it was built from and the Go version.\n")
		if args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		return 2
	}
	fmt.Fprintln(stdout, versionLine())
	return 0
}
