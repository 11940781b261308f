package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// Settings returns the saved global settings with their revision; ok is false when none
// were saved yet.
func (s *Store) Settings(ctx context.Context) (payhook.Settings, bool, error) {
	var doc []byte
	var rev int64
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, `SELECT doc, revision FROM settings WHERE id = 1`).Scan(&doc, &rev)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return payhook.Settings{}, false, nil
	}
	if err != nil {
		return payhook.Settings{}, false, fmt.Errorf("load settings: %w", err)
	}
	// Fields added since a document was saved take their defaults.
	st := payhook.Settings{EndpointHealthSettings: payhook.DefaultEndpointHealthSettings()}
	if err := json.Unmarshal(doc, &st); err != nil {
		return payhook.Settings{}, false, fmt.Errorf("decode settings: %w", err)
	}
	st.Revision = rev
	return st, true, nil
}

// SaveSettings stores st if the stored revision is still st.Revision (0: none saved
// yet), as the next revision, and sets st.Revision to it; else ECONFLICT. One statement
// decides, so two processes saving at once never both succeed.
func (s *Store) SaveSettings(ctx context.Context, st *payhook.Settings) error {
	doc, err := marshalDoc(st)
	if err != nil {
		return err
	}
	rev := st.Revision
	err = s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			if rev == 0 {
				b.Queue(`INSERT INTO settings (id, doc, revision) VALUES (1, $1, 1) ON CONFLICT (id) DO NOTHING`, doc)
			} else {
				b.Queue(`UPDATE settings SET doc = $1, revision = revision + 1 WHERE id = 1 AND revision = $2`, doc, rev)
			}
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("save settings: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return payhook.Errorf(payhook.ECONFLICT, "The settings were changed meanwhile (by another user or process): reload them and apply your change again.")
			}
			return nil
		},
	})
	if err == nil {
		st.Revision = rev + 1
	}
	return err
}

// PluginSettings returns one plugin's settings; ok is false when it has none.
func (s *Store) PluginSettings(ctx context.Context, p payhook.Plugin) (payhook.PluginSettings, bool, error) {
	list, err := s.pluginSettings(ctx, `SELECT plugin, webhook_url, state_filter_enabled, states, extended_redelivery FROM plugin_settings WHERE plugin = $1`, string(p))
	if err != nil || len(list) == 0 {
		return payhook.PluginSettings{Plugin: p, States: []payhook.State{}}, false, err
	}
	return list[0], true, nil
}

// ListPluginSettings returns every configured plugin, by name.
func (s *Store) ListPluginSettings(ctx context.Context) ([]payhook.PluginSettings, error) {
	return s.pluginSettings(ctx, `SELECT plugin, webhook_url, state_filter_enabled, states, extended_redelivery FROM plugin_settings ORDER BY plugin`)
}

func (s *Store) pluginSettings(ctx context.Context, query string, args ...any) ([]payhook.PluginSettings, error) {
	out := []payhook.PluginSettings{}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ps payhook.PluginSettings
			var plugin string
			var states []byte
			if err := rows.Scan(&plugin, &ps.WebhookURL, &ps.StateFilterEnabled, &states, &ps.ExtendedRedelivery); err != nil {
				return err
			}
			ps.Plugin = payhook.Plugin(plugin)
			if err := json.Unmarshal(states, &ps.States); err != nil {
				return fmt.Errorf("decode states: %w", err)
			}
			out = append(out, ps)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("load plugin settings: %w", err)
	}
	return out, nil
}

// PutPluginSettings creates or replaces a plugin's settings.
func (s *Store) PutPluginSettings(ctx context.Context, ps payhook.PluginSettings) error {
	if ps.States == nil {
		ps.States = []payhook.State{}
	}
	states, err := marshalDoc(ps.States)
	if err != nil {
		return err
	}
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO plugin_settings (plugin, webhook_url, state_filter_enabled, states, extended_redelivery)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (plugin) DO UPDATE SET webhook_url = excluded.webhook_url,
				state_filter_enabled = excluded.state_filter_enabled, states = excluded.states,
				extended_redelivery = excluded.extended_redelivery`,
				string(ps.Plugin), ps.WebhookURL, ps.StateFilterEnabled, states, ps.ExtendedRedelivery)
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("save plugin settings", err)
		},
	})
}

// DeletePluginSettings removes a plugin's settings; ENOTFOUND when it has none.
func (s *Store) DeletePluginSettings(ctx context.Context, p payhook.Plugin) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) { b.Queue(`DELETE FROM plugin_settings WHERE plugin = $1`, string(p)) },
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("delete plugin settings: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return payhook.Errorf(payhook.ENOTFOUND, "plugin %q has no webhook configuration", p)
			}
			return nil
		},
	})
}
