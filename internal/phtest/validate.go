package phtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireProgram skips the test, loudly, when a program it needs is absent; under CI=true
// it fails instead, since CI installs everything the tests need.
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI=true: .ci/run must install it", name)
		}
		t.Skipf("SKIPPED LOUDLY: %s is not installed; this test needs it (CI installs it)", name)
	}
	return p
}

// Validate checks body with Ottu's own schema checker in wire mode
// (python3 ../shared/ottu-schemas/validate.py KIND FILE --mode wire) and fails the test
// with the checker's findings. PAYHOOK_PYTHON, when set, names the python3 to use.
func Validate(t testing.TB, kind string, body []byte) {
	t.Helper()
	py := os.Getenv("PAYHOOK_PYTHON") // .ci/run sets it to a python3 that has jsonschema
	if py == "" {
		py = RequireProgram(t, "python3")
	}
	f := filepath.Join(t.TempDir(), kind+".json")
	if err := os.WriteFile(f, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, ValidatePath(t), kind, f, "--mode", "wire").CombinedOutput()
	if err != nil {
		t.Fatalf("validate.py %s --mode wire failed: %v\n%s\nbody: %s", kind, err, out, body)
	}
}
