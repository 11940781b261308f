package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/payhook/payhook"
)

// Settings returns the saved global settings.
func (s *Store) Settings(ctx context.Context) (payhook.Settings, bool, error) {
	var doc string
	var rev int64
	err := s.read.QueryRowContext(ctx, `SELECT doc, revision FROM settings WHERE id = 1`).Scan(&doc, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return payhook.Settings{}, false, nil
	}
	if err != nil {
		return payhook.Settings{}, false, fmt.Errorf("load settings: %w", err)
	}
	// Fields added since a document was saved take their defaults.
	st := payhook.Settings{EndpointHealthSettings: payhook.DefaultEndpointHealthSettings()}
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		return payhook.Settings{}, false, fmt.Errorf("decode settings: %w", err)
	}
	st.Revision = rev
	return st, true, nil
}

// SaveSettings stores the global settings made from revision st.Revision.
func (s *Store) SaveSettings(ctx context.Context, st *payhook.Settings) error {
	doc, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		var res sql.Result
		var err error
		if st.Revision == 0 {
			res, err = w.exec(`INSERT INTO settings (id, doc, revision) VALUES (1, ?, 1) ON CONFLICT (id) DO NOTHING`, string(doc))
		} else {
			res, err = w.exec(`UPDATE settings SET doc = ?, revision = revision + 1 WHERE id = 1 AND revision = ?`, string(doc), st.Revision)
		}
		if err != nil {
			return fmt.Errorf("save settings: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return payhook.Errorf(payhook.ECONFLICT, "The settings were changed meanwhile (by another user or process): reload them and apply your change again.")
		}
		st.Revision++
		return nil
	})
}

// PluginSettings returns one plugin's settings.
func (s *Store) PluginSettings(ctx context.Context, p payhook.Plugin) (payhook.PluginSettings, bool, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT plugin, webhook_url, state_filter_enabled, states, extended_redelivery FROM plugin_settings WHERE plugin = ?`, string(p))
	if err != nil {
		return payhook.PluginSettings{}, false, fmt.Errorf("load plugin settings: %w", err)
	}
	list, err := scanPluginSettings(rows)
	if err != nil || len(list) == 0 {
		return payhook.PluginSettings{Plugin: p, States: []payhook.State{}}, false, err
	}
	return list[0], true, nil
}

// ListPluginSettings returns every configured plugin, by name.
func (s *Store) ListPluginSettings(ctx context.Context) ([]payhook.PluginSettings, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT plugin, webhook_url, state_filter_enabled, states, extended_redelivery FROM plugin_settings ORDER BY plugin`)
	if err != nil {
		return nil, fmt.Errorf("list plugin settings: %w", err)
	}
	return scanPluginSettings(rows)
}

func scanPluginSettings(rows *sql.Rows) ([]payhook.PluginSettings, error) {
	defer rows.Close()
	out := []payhook.PluginSettings{}
	for rows.Next() {
		var ps payhook.PluginSettings
		var states string
		var extended sql.NullBool
		if err := rows.Scan(&ps.Plugin, &ps.WebhookURL, &ps.StateFilterEnabled, &states, &extended); err != nil {
			return nil, err
		}
		if extended.Valid {
			ps.ExtendedRedelivery = &extended.Bool
		}
		if err := json.Unmarshal([]byte(states), &ps.States); err != nil {
			return nil, fmt.Errorf("decode states: %w", err)
		}
		out = append(out, ps)
	}
	return out, rows.Err()
}

// PutPluginSettings creates or replaces a plugin's settings.
func (s *Store) PutPluginSettings(ctx context.Context, ps payhook.PluginSettings) error {
	if ps.States == nil {
		ps.States = []payhook.State{}
	}
	states, err := json.Marshal(ps.States)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO plugin_settings (plugin, webhook_url, state_filter_enabled, states, extended_redelivery)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (plugin) DO UPDATE SET webhook_url = excluded.webhook_url,
			state_filter_enabled = excluded.state_filter_enabled, states = excluded.states,
			extended_redelivery = excluded.extended_redelivery`,
			string(ps.Plugin), ps.WebhookURL, ps.StateFilterEnabled, string(states), ps.ExtendedRedelivery)
		return err
	})
}

// DeletePluginSettings removes a plugin's settings.
func (s *Store) DeletePluginSettings(ctx context.Context, p payhook.Plugin) error {
	return s.do(ctx, func(w *writer) error {
		res, err := w.exec(`DELETE FROM plugin_settings WHERE plugin = ?`, string(p))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return payhook.Errorf(payhook.ENOTFOUND, "plugin %q has no webhook configuration", p)
		}
		return nil
	})
}
