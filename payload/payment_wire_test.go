package payload_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// TestPayment_GoldenJSONPassesOttusChecker runs Ottu's schema checker on the JSON golden
// payment and operation payloads that TestPayment_Golden and TestOperation_Golden render (it lives in package payload, which
// cannot import phtest: phtest imports payload through the service).
func TestPayment_GoldenJSONPassesOttusChecker(t *testing.T) {
	t.Parallel()
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		t.Skip("the golden files are being rewritten; run again without -update")
	}
	for kind, want := range map[string]int{"payment": 6, "operation": 1} {
		files, err := filepath.Glob(filepath.Join("testdata", kind+"_*_json.golden"))
		require.NoError(t, err)
		require.Len(t, files, want, "the JSON golden %s payloads", kind)
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				t.Parallel()
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				phtest.Validate(t, kind+"-webhook", b)
			})
		}
	}
}
