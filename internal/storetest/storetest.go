// Package storetest is the conformance suite of payhook.Store: every method with the
// contract its doc comment states, the concurrency contracts included, run against every
// implementation so that the SQLite and PostgreSQL stores behave alike. A store's package
// runs it from one test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{Open: openOnATempFile})
//	}
//
// Every subtest opens its own empty database and runs in parallel with the others. Time
// is a fixed instant passed as now, never the clock and never a sleep, so the suite is
// fast and gives the same answer on every run. A store that serves several processes
// also gives OpenAgain: the concurrency tests then spread their callers over two stores
// on one database, as two payhook processes would.
package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// Harness opens stores for the suite.
type Harness struct {
	// Open returns a new store on a fresh, empty database, closed when the test ends.
	Open func(t *testing.T) payhook.Store
	// OpenAgain returns a second store on the same database as s: a second process. Nil
	// for stores that serve one process (SQLite).
	OpenAgain func(t *testing.T, s payhook.Store) payhook.Store
}

// Run runs the whole suite against the stores h opens, one subtest per Store method
// (or group of methods that only make sense together), named after it.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("storetest: Harness.Open is nil")
	}
	for _, c := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"Settings", testSettings},
		{"SaveSettings", testSaveSettings},
		{"PluginSettings", testPluginSettings},

		{"CreateTransaction", testCreateTransaction},
		{"Transaction", testTransaction},
		{"TransactionsByOrderNo", testTransactionsByOrderNo},
		{"ExpiredTransactions", testExpiredTransactions},
		{"ListTransactions", testListTransactions},
		{"ApplyChange", testApplyChange},

		{"Claim", testClaim},
		{"ReleaseClaim", testReleaseClaim},
		{"StaleClaims", testStaleClaims},
		{"TakeOverClaim", testTakeOverClaim},
		{"ClaimByID", testClaimByID},
		{"Tracking", testTracking},

		{"AddNotifications", testAddNotifications},
		{"Notification", testNotification},
		{"ListNotifications", testListNotifications},
		{"ResendMatching", testResendMatching},
		{"Resend", testResend},
		{"DeliveryStats", testDeliveryStats},
		{"EndpointStats", testEndpointStats},
		{"Unacknowledged", testUnacknowledged},
		{"DeliveredIDs", testDeliveredIDs},
		{"AddDigestNotification", testAddDigestNotification},
		{"ObserveEndpoint", testObserveEndpoint},
		{"HeldNotifications", testHeldNotifications},

		{"ClaimDue", testClaimDue},
		{"RecordAttempt", testRecordAttempt},
		{"RenewLeases", testRenewLeases},
		{"ReleaseLease", testReleaseLease},
		{"RecordExtendedAttempt", testRecordExtendedAttempt},
		{"OrderBlocker", testOrderBlocker},
		{"PluginSettingsExtendedRedelivery", testPluginSettingsExtendedRedelivery},

		{"Users", testUsers},
		{"Sessions", testSessions},
		{"Audit", testAudit},
		{"UserAdministration", testUserAdministration},
		{"SignInFailures", testSignInFailures},
		{"APIKeys", testAPIKeys},
		{"CreateFirstAPIKey", testCreateFirstAPIKey},

		{"ErrorEmailStore", testErrorEmailStore},

		{"Lead", testLead},
		{"GatewayCalls", testGatewayCalls},
		{"Ping", testPing},
		{"Close", testClose},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, h)
		})
	}
}

// processes returns s and, when the store serves several processes, a second store on
// the same database: concurrent callers are spread over them (see pick).
func processes(t *testing.T, h Harness, s payhook.Store) []payhook.Store {
	t.Helper()
	if h.OpenAgain == nil {
		return []payhook.Store{s}
	}
	return []payhook.Store{s, h.OpenAgain(t, s)}
}

// pick returns the store caller i uses: callers alternate between the processes.
func pick(stores []payhook.Store, i int) payhook.Store { return stores[i%len(stores)] }

// secondProcess returns a second store on s's database, or skips the test for a store
// that serves one process.
func secondProcess(t *testing.T, h Harness, s payhook.Store) payhook.Store {
	t.Helper()
	if h.OpenAgain == nil {
		t.Skip("the store serves one process (Harness.OpenAgain is nil)")
	}
	return h.OpenAgain(t, s)
}

// concurrently calls fn(i) for every i below n, each from its own goroutine, all
// released at once, and returns what each call returned.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// racers is how many callers the concurrency tests release at once.
const racers = 16

// requireOneWinner requires that exactly one call succeeded and that every other one
// failed as lost says, and returns the winner.
func requireOneWinner(t *testing.T, errs []error, lost func(error) bool) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equalf(t, -1, winner, "callers %d and %d both won: the store let two concurrent callers through", winner, i)
			winner = i
			continue
		}
		require.Truef(t, lost(err), "caller %d failed with an unexpected error: %v (code %q)", i, err, payhook.ErrorCode(err))
	}
	require.NotEqual(t, -1, winner, "no caller won")
	return winner
}

// is returns a test for requireOneWinner: the error is (or wraps) target.
func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// isChanged reports the ECONFLICT that means "changed since it was read": an ECONFLICT
// that is none of the sentinel conflicts, which callers tell apart with errors.Is.
func isChanged(err error) bool {
	return payhook.ErrorCode(err) == payhook.ECONFLICT && !errors.Is(err, payhook.ErrClaimed) &&
		!errors.Is(err, payhook.ErrClaimLost) && !errors.Is(err, payhook.ErrTrackingKeyUsed) &&
		!errors.Is(err, payhook.ErrLeaseLost)
}

// requireCode requires an application error with that code.
func requireCode(t *testing.T, code string, err error, why ...string) {
	t.Helper()
	because := strings.Join(why, " ")
	require.Errorf(t, err, "want a %s error %s", code, because)
	require.Equalf(t, code, payhook.ErrorCode(err), "error %q %s", err, because)
}

// requireChanged requires the ECONFLICT of a change refused because the transaction left
// the expected states or changed since it was read (not ErrClaimed, ErrClaimLost or
// ErrTrackingKeyUsed: the service retries on those differently).
func requireChanged(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err, "want ECONFLICT: the transaction changed since it was read")
	require.Truef(t, isChanged(err), "want a plain ECONFLICT (changed since read), got %v (code %q)", err, payhook.ErrorCode(err))
}

// requireSameTime requires two instants to be equal, whatever their locations.
func requireSameTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	require.Truef(t, want.Equal(got), "%s: want %v, got %v", what, want, got)
}
