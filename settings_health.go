package payhook

import (
	"encoding/json"
	"fmt"
	"time"
)

// EndpointHealthSettings are the settings of endpoint health and operator notices
// (docs/endpoint-health.md): a block of Settings with its own validation.
type EndpointHealthSettings struct {
	// EndpointFailingAfter is the span of only failures, in seconds, after which a URL is
	// failing (an email to the error list, once). 0: the first failure.
	EndpointFailingAfter float64 `json:"endpoint_failing_after"`
	// EndpointDisableAfter is the longer span after which a URL is disabled and new
	// notifications to it are held. 0: never disabled.
	EndpointDisableAfter float64 `json:"endpoint_disable_after"`
	// EndpointResumeRate is how many held notifications per second a resume sends.
	EndpointResumeRate float64 `json:"endpoint_resume_rate"`
	// OperationsNoticesURL, when set, receives the endpoint.failing, endpoint.disabled
	// and endpoint.recovered notices, signed like every notification.
	OperationsNoticesURL string `json:"operations_notices_url"`
}

// The defaults of EndpointHealthSettings: failing after an hour of only failures,
// disabled after five days of them (as Svix), a resume at 10 notifications a second.
const (
	DefaultEndpointFailingAfter = 3600
	DefaultEndpointDisableAfter = 5 * 24 * 3600
	DefaultEndpointResumeRate   = 10
)

// Bounds of EndpointHealthSettings.
const (
	maxEndpointSpan       = 90 * 24 * 3600 // 90 days, in seconds
	maxEndpointResumeRate = 10000
)

// DefaultEndpointHealthSettings returns the defaults.
func DefaultEndpointHealthSettings() EndpointHealthSettings {
	return EndpointHealthSettings{EndpointFailingAfter: DefaultEndpointFailingAfter,
		EndpointDisableAfter: DefaultEndpointDisableAfter, EndpointResumeRate: DefaultEndpointResumeRate}
}

// EndpointPolicy returns the spans as a policy.
func (s EndpointHealthSettings) EndpointPolicy() EndpointPolicy {
	return EndpointPolicy{FailingAfter: seconds(s.EndpointFailingAfter), DisableAfter: seconds(s.EndpointDisableAfter)}
}

// ResumeInterval is the wait between two held notifications sent by a resume.
func (s EndpointHealthSettings) ResumeInterval() time.Duration {
	r := s.EndpointResumeRate
	if r <= 0 {
		r = DefaultEndpointResumeRate
	}
	return time.Duration(float64(time.Second) / r)
}

// apply decodes one field of the block; known is false for a field not of the block.
func (s *EndpointHealthSettings) apply(name string, raw json.RawMessage) (known bool, err error) {
	switch name {
	case "endpoint_failing_after":
		if err = decodeField(raw, &s.EndpointFailingAfter); err == nil && (s.EndpointFailingAfter < 0 || s.EndpointFailingAfter > maxEndpointSpan) {
			err = fmt.Errorf("must be 0 to %d seconds (90 days)", maxEndpointSpan)
		}
	case "endpoint_disable_after":
		if err = decodeField(raw, &s.EndpointDisableAfter); err == nil && (s.EndpointDisableAfter < 0 || s.EndpointDisableAfter > maxEndpointSpan) {
			err = fmt.Errorf("must be 0 (never) to %d seconds (90 days)", maxEndpointSpan)
		}
	case "endpoint_resume_rate":
		if err = decodeField(raw, &s.EndpointResumeRate); err == nil && (s.EndpointResumeRate <= 0 || s.EndpointResumeRate > maxEndpointResumeRate) {
			err = fmt.Errorf("must be more than 0 and at most %d notifications a second", maxEndpointResumeRate)
		}
	case "operations_notices_url":
		var v string
		if err = decodeField(raw, &v); err == nil {
			if v != "" {
				err = ValidateWebhookURL(v, 2000)
			}
			s.OperationsNoticesURL = v
		}
	default:
		return false, nil
	}
	return true, err
}

// check reports the block's rules across fields, under the field the patch p changed.
func (s EndpointHealthSettings) check(p SettingsPatch, fe FieldErrors) {
	if s.EndpointDisableAfter > 0 && s.EndpointDisableAfter < s.EndpointFailingAfter {
		field := "endpoint_disable_after"
		if _, ok := p[field]; !ok {
			if _, ok := p["endpoint_failing_after"]; ok {
				field = "endpoint_failing_after"
			}
		}
		if len(fe[field]) == 0 {
			fe.Add(field, "endpoint_disable_after (%g s) must be 0 (never) or at least endpoint_failing_after (%g s)",
				s.EndpointDisableAfter, s.EndpointFailingAfter)
		}
	}
}
