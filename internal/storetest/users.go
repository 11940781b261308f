package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func requireSameUser(t *testing.T, want, got *payhook.User) {
	t.Helper()
	require.NotNil(t, got)
	w, g := *want, *got
	w.CreatedAt, g.CreatedAt = utc(w.CreatedAt), utc(g.CreatedAt)
	require.Equal(t, w, g)
}

func testUsers(t *testing.T, h Harness) {
	t.Run("CreateSetsTheIDAndStoresEveryField", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		u := createUser(t, s, "ada@merchant.example")
		other := createUser(t, s, "grace@merchant.example")
		require.NotZero(t, u.ID)
		require.NotEqual(t, u.ID, other.ID)

		got, err := s.UserByEmail(ctx, u.Email)
		require.NoError(t, err)
		requireSameUser(t, u, got)
		got, err = s.UserByID(ctx, u.ID)
		require.NoError(t, err)
		requireSameUser(t, u, got)
	})

	t.Run("DuplicateEmailConflicts", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		createUser(t, s, "ada@merchant.example")
		requireCode(t, payhook.ECONFLICT, s.CreateUser(t.Context(), newUser("ada@merchant.example")))
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		u := createUser(t, s, "ada@merchant.example")
		_, err := s.UserByEmail(t.Context(), "nobody@merchant.example")
		requireCode(t, payhook.ENOTFOUND, err)
		_, err = s.UserByID(t.Context(), u.ID+1000)
		requireCode(t, payhook.ENOTFOUND, err)
	})
}

func testSessions(t *testing.T, h Harness) {
	setup := func(t *testing.T) (payhook.Store, *payhook.Session) {
		s := h.Open(t)
		u := createUser(t, s, "ada@merchant.example")
		ss := &payhook.Session{TokenHash: "hash-of-token", UserID: u.ID, CSRFToken: "csrf-token", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
		require.NoError(t, s.CreateSession(t.Context(), ss))
		return s, ss
	}

	t.Run("ReturnsAnUnexpiredSession", func(t *testing.T) {
		t.Parallel()
		s, ss := setup(t)
		got, err := s.Session(t.Context(), ss.TokenHash, base.Add(30*time.Minute))
		require.NoError(t, err)
		require.Equal(t, ss.TokenHash, got.TokenHash)
		require.Equal(t, ss.UserID, got.UserID)
		require.Equal(t, ss.CSRFToken, got.CSRFToken)
		requireSameTime(t, ss.CreatedAt, got.CreatedAt, "CreatedAt")
		requireSameTime(t, ss.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	})

	t.Run("ExpiredIsNotFound", func(t *testing.T) {
		t.Parallel()
		s, ss := setup(t)
		_, err := s.Session(t.Context(), ss.TokenHash, base.Add(2*time.Hour))
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("DeleteSignsOut", func(t *testing.T) {
		t.Parallel()
		s, ss := setup(t)
		require.NoError(t, s.DeleteSession(t.Context(), ss.TokenHash))
		_, err := s.Session(t.Context(), ss.TokenHash, base)
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("UnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		_, err := s.Session(t.Context(), "hash-of-another-token", base)
		requireCode(t, payhook.ENOTFOUND, err)
	})
}

func testAudit(t *testing.T, h Harness) {
	t.Run("EmptyLog", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		list, n, err := s.ListAudit(t.Context(), payhook.AuditFilter{Limit: 10})
		require.NoError(t, err)
		require.Zero(t, n)
		require.Empty(t, list)
	})

	t.Run("NewestFirstWithCountAndPaging", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		var entries []payhook.AuditEntry
		for i, action := range []string{"settings.update", "plugin.update", "hmac.rotate", "apikey.create", "apikey.revoke"} {
			e := payhook.AuditEntry{At: base.Add(time.Duration(i) * time.Minute), Actor: "ada@merchant.example", Action: action, Detail: "detail of " + action}
			require.NoError(t, s.AddAudit(ctx, e))
			entries = append(entries, e)
		}

		list, n, err := s.ListAudit(ctx, payhook.AuditFilter{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 5, n)
		require.Len(t, list, 5)
		for i, got := range list {
			want := entries[4-i]
			require.NotZero(t, got.ID)
			require.Equal(t, want.Action, got.Action, "entry %d", i)
			require.Equal(t, want.Actor, got.Actor)
			require.Equal(t, want.Detail, got.Detail)
			requireSameTime(t, want.At, got.At, "At")
		}

		page, n, err := s.ListAudit(ctx, payhook.AuditFilter{Limit: 2, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, 5, n, "the count is of every entry, not of the page")
		require.Equal(t, []payhook.AuditEntry{list[1], list[2]}, page)
	})

	t.Run("FiltersByActorActionDetailAndTime", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		add := func(min int, actor, action, detail string) {
			require.NoError(t, s.AddAudit(ctx, payhook.AuditEntry{At: base.Add(time.Duration(min) * time.Minute), Actor: actor, Action: action, Detail: detail}))
		}
		add(0, "ada@merchant.example", "operation.refund", "refund 5.000 KWD of ORDER-1")
		add(1, "grace@merchant.example", "operation.capture", "capture 9.000 KWD of ORDER-2")
		add(2, "Ada@Merchant.example", "user.role", "bob@merchant.example: viewer → operator")
		add(3, "API key ph_ab12", "settings.update", "enabled: false → true")
		add(4, "ada@merchant.example", "sign_in", "from 127.0.0.1")
		actions := func(f payhook.AuditFilter) []string {
			t.Helper()
			list, n, err := s.ListAudit(ctx, f)
			require.NoError(t, err)
			var out []string
			for _, e := range list {
				out = append(out, e.Action)
			}
			if f.Limit == 0 {
				require.Equal(t, n, len(list), "without a limit every match is returned")
			}
			return out
		}
		require.Equal(t, []string{"sign_in", "user.role", "operation.refund"}, actions(payhook.AuditFilter{Actor: "ADA@"}), "actor, any case, anywhere")
		require.Equal(t, []string{"operation.capture", "operation.refund"}, actions(payhook.AuditFilter{Action: "operation."}), "an action ending in a dot is a prefix")
		require.Equal(t, []string{"operation.capture"}, actions(payhook.AuditFilter{Action: "operation.capture"}))
		require.Empty(t, actions(payhook.AuditFilter{Action: "operation"}), "without the dot the action matches exactly")
		require.Equal(t, []string{"operation.capture"}, actions(payhook.AuditFilter{Query: "order-2"}), "detail, any case")
		require.Equal(t, []string{"settings.update", "user.role", "operation.capture"},
			actions(payhook.AuditFilter{Since: base.Add(time.Minute), Until: base.Add(4 * time.Minute)}), "since inclusive, until exclusive")
		require.Equal(t, []string{"user.role"}, actions(payhook.AuditFilter{Actor: "ada", Action: "user.", Since: base.Add(time.Minute)}), "filters combine")
		list, n, err := s.ListAudit(ctx, payhook.AuditFilter{Actor: "ada", Limit: 1, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, 3, n, "the count is of every match")
		require.Len(t, list, 1)
		require.Equal(t, "user.role", list[0].Action)
	})
}

func testUserAdministration(t *testing.T, h Harness) {
	session := func(t *testing.T, s payhook.Store, u *payhook.User, hash string) {
		t.Helper()
		require.NoError(t, s.CreateSession(t.Context(), &payhook.Session{TokenHash: hash, UserID: u.ID, CSRFToken: "csrf", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}))
	}
	alive := func(t *testing.T, s payhook.Store, hash string) bool {
		t.Helper()
		_, err := s.Session(t.Context(), hash, base)
		if payhook.ErrorCode(err) == payhook.ENOTFOUND {
			return false
		}
		require.NoError(t, err)
		return true
	}

	t.Run("ListUsersInCreationOrderWithRoles", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ada := createUser(t, s, "ada@merchant.example")
		bob := newUser("bob@merchant.example")
		bob.Role = payhook.RoleViewer
		require.NoError(t, s.CreateUser(t.Context(), bob))
		list, err := s.ListUsers(t.Context())
		require.NoError(t, err)
		require.Len(t, list, 2)
		requireSameUser(t, ada, list[0])
		requireSameUser(t, bob, list[1])
		require.Equal(t, payhook.RoleViewer, list[1].Role)
		require.True(t, list[1].Active())
	})

	t.Run("UpdateSavesRoleNamesAndDeactivation", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		createUser(t, s, "ada@merchant.example")
		bob := createUser(t, s, "bob@merchant.example")
		session(t, s, bob, "bob-1")
		bob.Role, bob.FirstName = payhook.RoleOperator, "Robert"
		require.NoError(t, s.UpdateUser(ctx, bob, ""))
		got, err := s.UserByID(ctx, bob.ID)
		require.NoError(t, err)
		requireSameUser(t, bob, got)
		require.True(t, alive(t, s, "bob-1"), "a role change keeps the sessions (the role is read on every request)")

		bob.DeactivatedAt = base.Add(time.Minute)
		require.NoError(t, s.UpdateUser(ctx, bob, ""))
		got, err = s.UserByID(ctx, bob.ID)
		require.NoError(t, err)
		require.False(t, got.Active())
		requireSameTime(t, bob.DeactivatedAt, got.DeactivatedAt, "DeactivatedAt")
		require.False(t, alive(t, s, "bob-1"), "deactivation ends the sessions")
	})

	t.Run("PasswordChangeEndsOtherSessions", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ada := createUser(t, s, "ada@merchant.example")
		session(t, s, ada, "ada-laptop")
		session(t, s, ada, "ada-phone")
		ada.PasswordHash = "$2a$10$anotherhashanotherhashanotherhashanotherhashanotherhas"
		require.NoError(t, s.UpdateUser(t.Context(), ada, "ada-laptop"))
		require.True(t, alive(t, s, "ada-laptop"), "the session that changed it stays")
		require.False(t, alive(t, s, "ada-phone"))
	})

	t.Run("LastActiveAdminCannotGo", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		ada := createUser(t, s, "ada@merchant.example")
		viewer := newUser("vera@merchant.example")
		viewer.Role = payhook.RoleViewer
		require.NoError(t, s.CreateUser(ctx, viewer))

		demoted := *ada
		demoted.Role = payhook.RoleOperator
		requireCode(t, payhook.ECONFLICT, s.UpdateUser(ctx, &demoted, ""))
		gone := *ada
		gone.DeactivatedAt = base
		requireCode(t, payhook.ECONFLICT, s.UpdateUser(ctx, &gone, ""))
		got, err := s.UserByID(ctx, ada.ID)
		require.NoError(t, err)
		requireSameUser(t, ada, got)

		viewer.FirstName = "Vera"
		require.NoError(t, s.UpdateUser(ctx, viewer, ""), "a change to a non-admin is not refused for want of an admin")
		viewer.Role = payhook.RoleAdmin
		require.NoError(t, s.UpdateUser(ctx, viewer, ""))
		require.NoError(t, s.UpdateUser(ctx, &demoted, ""), "with another admin, the first may be demoted")
		requireCode(t, payhook.ENOTFOUND, s.UpdateUser(ctx, &payhook.User{ID: ada.ID + 100, Role: payhook.RoleViewer}, ""))
	})

	t.Run("WithoutAnyAdminOthersCanStillChange", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		vera := newUser("vera@merchant.example")
		vera.Role = payhook.RoleViewer
		require.NoError(t, s.CreateUser(t.Context(), vera))
		vera.PasswordHash = "$2a$10$anotherhashanotherhashanotherhashanotherhashanotherhas"
		require.NoError(t, s.UpdateUser(t.Context(), vera, ""), "no admin was there to lose")
	})

	t.Run("TwoAdminsDemotingEachOtherAtOnceLeaveOne", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		ctx := t.Context()
		for round := range 5 {
			a := createUser(t, s, fmt.Sprintf("a%d@merchant.example", round))
			b := createUser(t, s, fmt.Sprintf("b%d@merchant.example", round))
			// Every other admin from earlier rounds is gone: only a and b are active.
			list, err := s.ListUsers(ctx)
			require.NoError(t, err)
			for _, u := range list {
				if u.ID != a.ID && u.ID != b.ID && u.Active() && u.Role == payhook.RoleAdmin {
					u.Role = payhook.RoleViewer
					require.NoError(t, s.UpdateUser(ctx, u, ""))
				}
			}
			a.Role, b.Role = payhook.RoleViewer, payhook.RoleViewer
			errs := make(chan error, 2)
			go func() { errs <- s.UpdateUser(ctx, a, "") }()
			go func() { errs <- pick(stores, 1).UpdateUser(ctx, b, "") }()
			e1, e2 := <-errs, <-errs
			ok := 0
			for _, err := range []error{e1, e2} {
				if err == nil {
					ok++
				} else {
					requireCode(t, payhook.ECONFLICT, err)
				}
			}
			require.Equal(t, 1, ok, "round %d: exactly one demotion succeeds", round)
		}
	})
}

func testSignInFailures(t *testing.T, h Harness) {
	t.Run("RecordedUnderEachKeyOldestFirst", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		pair, addr := "ada@merchant.example|192.0.2.7", "192.0.2.7"
		require.NoError(t, s.AddSignInFailure(ctx, []string{pair, addr}, base))
		require.NoError(t, s.AddSignInFailure(ctx, []string{pair}, base.Add(time.Minute)))
		require.NoError(t, s.AddSignInFailure(ctx, []string{addr}, base.Add(-time.Hour)))

		requireTimes(t, []time.Time{base, base.Add(time.Minute)}, s, pair, base.Add(-time.Minute))
		requireTimes(t, []time.Time{base.Add(-time.Hour), base}, s, addr, base.Add(-2*time.Hour))
		requireTimes(t, []time.Time{base}, s, addr, base.Add(-time.Minute))
		requireTimes(t, nil, s, "192.0.2.8", base.Add(-2*time.Hour))
	})

	t.Run("ClearForgetsTheKeysAndOlderFailures", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		for _, at := range []time.Time{base.Add(-2 * time.Hour), base} {
			require.NoError(t, s.AddSignInFailure(ctx, []string{"k1", "k2"}, at))
		}
		require.NoError(t, s.AddSignInFailure(ctx, []string{"k3"}, base))

		require.NoError(t, s.ClearSignInFailures(ctx, []string{"k1"}, base.Add(-time.Hour)))
		since := base.Add(-3 * time.Hour)
		requireTimes(t, nil, s, "k1", since)
		requireTimes(t, []time.Time{base}, s, "k2", since)
		requireTimes(t, []time.Time{base}, s, "k3", since)
	})
}

// requireTimes requires the failures of key since since to be want.
func requireTimes(t *testing.T, want []time.Time, s payhook.Store, key string, since time.Time) {
	t.Helper()
	got, err := s.SignInFailures(t.Context(), key, since)
	require.NoError(t, err)
	require.Len(t, got, len(want), "failures of %s: %v", key, got)
	for i := range want {
		requireSameTime(t, want[i], got[i], key)
	}
}
