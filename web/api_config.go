package web

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/payhook/payhook"
)

// configAnswer is the settings as the config API shows them: secrets masked, except one
// just created or rotated, shown in full this once.
func configAnswer(st payhook.Settings, rot payhook.Rotations) payhook.Settings {
	m := st.Masked()
	if rot.HMACKey {
		m.HMACKey = st.HMACKey
	}
	if rot.StandardWebhooksSecret {
		m.StandardWebhooksSecret = st.StandardWebhooksSecret
	}
	return m
}

// getConfig is GET /b/webhook/v1/config/.
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error {
	st, err := s.svc.Settings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, configAnswer(st, payhook.Rotations{}))
	return nil
}

// patchConfig is PATCH /b/webhook/v1/config/: 200 with the whole configuration.
func (s *Server) patchConfig(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	st, rot, err := s.svc.UpdateSettings(r.Context(), payhook.SettingsPatch(body))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, configAnswer(st, rot))
	return nil
}

// listPlugins is GET /b/webhook/v1/plugins/.
func (s *Server) listPlugins(w http.ResponseWriter, r *http.Request) error {
	list, err := s.svc.ListPluginSettings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "next": nil, "previous": nil, "results": list})
	return nil
}

// getPlugin is GET /b/webhook/v1/plugins/{plugin}/: a plugin without a configuration
// answers its defaults (no URL, no state filter).
func (s *Server) getPlugin(w http.ResponseWriter, r *http.Request) error {
	p := payhook.Plugin(r.PathValue("plugin"))
	ps, ok, err := s.svc.PluginSettings(r.Context(), p)
	if err != nil {
		return err
	}
	if !ok { // not configured: what applies, the defaults
		ps = payhook.PluginSettings{Plugin: p, States: []payhook.State{}}
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

// putPlugin is PUT /b/webhook/v1/plugins/{plugin}/: creates or replaces it.
func (s *Server) putPlugin(w http.ResponseWriter, r *http.Request) error {
	p := payhook.Plugin(r.PathValue("plugin"))
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	ps := payhook.PluginSettings{Plugin: p, States: []payhook.State{}}
	fe := payhook.FieldErrors{}
	for name, raw := range body {
		var err error
		switch name {
		case "plugin":
			var v string
			if err = decodeStrict(raw, &v); err == nil && payhook.Plugin(v) != p {
				fe.Add(name, "Does not match the plugin in the path (%q).", p)
			}
		case "webhook_url":
			err = decodeStrict(raw, &ps.WebhookURL)
		case "state_filter_enabled":
			err = decodeStrict(raw, &ps.StateFilterEnabled)
		case "states":
			err = decodeStrict(raw, &ps.States)
		case "extended_redelivery": // null (follow the global setting), true or false
			if !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				var v bool
				if err = decodeStrict(raw, &v); err == nil {
					ps.ExtendedRedelivery = &v
				} else {
					err = errors.New("Must be true, false or null (follow the global extended_redelivery).")
				}
			}
		default:
			fe.Add(name, "Unknown field.")
		}
		if err != nil {
			fe.Add(name, "%s", err.Error())
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	if err := s.svc.PutPluginSettings(r.Context(), ps); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

// deletePlugin is DELETE /b/webhook/v1/plugins/{plugin}/: 204.
func (s *Server) deletePlugin(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.DeletePluginSettings(r.Context(), payhook.Plugin(r.PathValue("plugin"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
