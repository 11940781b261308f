package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/payhook/payhook"
)

// usersPage is the data of the users page: the list and the form to add one.
type usersPage struct {
	Users  []*payhook.User
	Roles  []payhook.Role
	Email  string
	Role   payhook.Role
	Errors payhook.FieldErrors
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, d *dash, code int, p usersPage, problem string) error {
	users, err := s.svc.Users(r.Context())
	if err != nil {
		return err
	}
	p.Users, p.Roles = users, payhook.Roles
	if p.Role == "" {
		p.Role = payhook.RoleViewer
	}
	v := d.view(r, "Users", "users", p)
	if problem != "" {
		v.Flash, v.Problem = "", problem
	}
	s.renderDash(w, code, "dash_users", v)
	return nil
}

// usersGet is GET /dashboard/users: every user with role and status, and a form to add one.
func (s *Server) usersGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	return s.renderUsers(w, r, d, http.StatusOK, usersPage{}, "")
}

// usersPost is POST /dashboard/users: adds a user with a role and a first password.
func (s *Server) usersPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	email, role := strings.TrimSpace(r.PostForm.Get("email")), payhook.Role(r.PostForm.Get("role"))
	_, err := s.svc.CreateUser(r.Context(), email, r.PostForm.Get("password"), role)
	if errs := fieldErrors(err); errs != nil {
		return s.renderUsers(w, r, d, http.StatusBadRequest, usersPage{Email: email, Role: role, Errors: errs}, "No user was added: correct the fields below.")
	}
	if payhook.ErrorCode(err) == payhook.ECONFLICT {
		return s.renderUsers(w, r, d, http.StatusBadRequest, usersPage{Email: email, Role: role,
			Errors: payhook.FieldErrors{"email": {"A user with this email exists."}}}, "No user was added: correct the fields below.")
	}
	if err != nil {
		return err
	}
	seeOther(w, r, DashboardPath+"/users", "user_added")
	return nil
}

// userPage is the data of one user's page: role, password reset, deactivation.
type userPage struct {
	User   *payhook.User
	Roles  []payhook.Role
	Self   bool
	Errors payhook.FieldErrors
}

func (s *Server) pathUser(r *http.Request) (*payhook.User, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "No user %q.", r.PathValue("id"))
	}
	u, err := s.svc.User(r.Context(), id)
	if payhook.ErrorCode(err) == payhook.ENOTFOUND {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "No user %d.", id)
	}
	return u, err
}

func (s *Server) renderUser(w http.ResponseWriter, r *http.Request, d *dash, code int, u *payhook.User, errs payhook.FieldErrors, problem string) error {
	v := d.view(r, u.Email, "users", userPage{User: u, Roles: payhook.Roles, Self: u.ID == d.User.ID, Errors: errs})
	if problem != "" {
		v.Flash, v.Problem = "", problem
	}
	s.renderDash(w, code, "dash_user", v)
	return nil
}

// userGet is GET /dashboard/users/{id}.
func (s *Server) userGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	return s.renderUser(w, r, d, http.StatusOK, u, nil, "")
}

// userAction runs one change to the user of the path, then shows their page: the flash
// on success, the reason (and nothing changed) otherwise.
func (s *Server) userAction(w http.ResponseWriter, r *http.Request, d *dash, done string, change func(id int64) error) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	err = change(u.ID)
	if errs := fieldErrors(err); errs != nil {
		return s.renderUser(w, r, d, http.StatusBadRequest, u, errs, "Nothing was changed: correct the field below.")
	}
	if payhook.ErrorCode(err) == payhook.ECONFLICT {
		return s.renderUser(w, r, d, http.StatusConflict, u, nil, payhook.ErrorMessage(err)+" Nothing was changed.")
	}
	if err != nil {
		return err
	}
	seeOther(w, r, DashboardPath+"/users/"+strconv.FormatInt(u.ID, 10), done)
	return nil
}

// userRolePost is POST /dashboard/users/{id}/role.
func (s *Server) userRolePost(w http.ResponseWriter, r *http.Request, d *dash) error {
	return s.userAction(w, r, d, "user_role", func(id int64) error {
		_, err := s.svc.SetRole(r.Context(), id, payhook.Role(r.PostForm.Get("role")))
		return err
	})
}

// userPasswordPost is POST /dashboard/users/{id}/password: an admin sets a new password.
func (s *Server) userPasswordPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	return s.userAction(w, r, d, "user_password", func(id int64) error {
		_, err := s.svc.ResetPassword(r.Context(), id, r.PostForm.Get("password"))
		return err
	})
}

// userActivePost is POST /dashboard/users/{id}/active with active=true|false.
func (s *Server) userActivePost(w http.ResponseWriter, r *http.Request, d *dash) error {
	active := r.PostForm.Get("active") == "true"
	done := "user_deactivated"
	if active {
		done = "user_activated"
	}
	return s.userAction(w, r, d, done, func(id int64) error {
		_, err := s.svc.SetActive(r.Context(), id, active)
		return err
	})
}

// accountPage is the data of the signed-in user's own page.
type accountPage struct {
	Errors payhook.FieldErrors
}

// accountGet is GET /dashboard/account: who I am, my role, a form to change my password.
func (s *Server) accountGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	s.renderDash(w, http.StatusOK, "dash_account", d.view(r, "My account", "account", accountPage{}))
	return nil
}

// accountPasswordPost is POST /dashboard/account/password: the current password, then
// the new one twice. Other sessions of the user end; this one stays.
func (s *Server) accountPasswordPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	f := r.PostForm
	var err error
	if f.Get("password") != f.Get("password_again") {
		err = payhook.FieldErrors{"password_again": {"The two new passwords differ."}}.Err()
	} else {
		err = s.svc.ChangePassword(r.Context(), d.User, f.Get("current_password"), f.Get("password"), d.SessionHash)
	}
	if errs := fieldErrors(err); errs != nil {
		v := d.view(r, "My account", "account", accountPage{Errors: errs})
		v.Flash, v.Problem = "", "Your password was not changed: correct the fields below."
		s.renderDash(w, http.StatusBadRequest, "dash_account", v)
		return nil
	}
	if err != nil {
		return err
	}
	seeOther(w, r, DashboardPath+"/account", "password_changed")
	return nil
}
