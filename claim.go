package payhook

import (
	"encoding/json"
	"fmt"
)

// claimIntent is what a store keeps of a claim beside its columns.
type claimIntent struct {
	PGCode      string  `json:"pg_code,omitempty"`
	Card        *Card   `json:"card,omitempty"`
	Child       *Child  `json:"child,omitempty"`
	TrackingKey string  `json:"tracking_key,omitempty"`
	From        []State `json:"from,omitempty"`
}

// IntentJSON encodes the claim's intent (the gateway and card of a payment, the planned
// child of an operation, its Tracking-Key, the states it was taken from), for a store to
// keep beside the claim's columns; SetIntentJSON restores it.
func (c *Claim) IntentJSON() ([]byte, error) {
	in := claimIntent{PGCode: c.PGCode, Card: c.Card, Child: c.Child, From: c.From}
	if c.Tracking != nil {
		in.TrackingKey = c.Tracking.Key
	}
	return json.Marshal(in)
}

// SetIntentJSON restores an intent encoded by IntentJSON; c.ID and c.SessionID must be set
// (a Tracking-Key comes back naming them, without its request hash).
func (c *Claim) SetIntentJSON(b []byte) error {
	var in claimIntent
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("decode claim %s: %w", c.ID, err)
	}
	c.PGCode, c.Card, c.Child, c.From = in.PGCode, in.Card, in.Child, in.From
	c.Tracking = nil
	if in.TrackingKey != "" {
		c.Tracking = &Tracking{Key: in.TrackingKey, SessionID: c.SessionID, ClaimID: c.ID}
	}
	return nil
}
