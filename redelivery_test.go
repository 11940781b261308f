package payhook

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNextExtendedStep(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	sched := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute}
	plus10 := func(d time.Duration) time.Duration { return d + d/10 }
	at := func(d time.Duration) time.Time { return now.Add(d) }
	noAnswer := AttemptOutcome{NoAnswer: true}
	tests := []struct {
		name   string
		made   int
		o      AttemptOutcome
		jitter func(time.Duration) time.Duration
		want   ExtendedStep
	}{
		{"200 delivers", 1, AttemptOutcome{StatusCode: 200}, nil, ExtendedStep{Status: StatusDelivered}},
		{"201 delivers", 3, AttemptOutcome{StatusCode: 201}, nil, ExtendedStep{Status: StatusDelivered}},
		{"Ottu's round ended without answer: first step", 0, noAnswer, nil,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(time.Minute), EndsAt: at(36 * time.Minute), AttemptsMade: 0}}},
		{"500 is tried later", 1, AttemptOutcome{StatusCode: 500}, nil,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(5 * time.Minute), EndsAt: at(35 * time.Minute), AttemptsMade: 1}}},
		{"599 is tried later", 2, AttemptOutcome{StatusCode: 599}, nil,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(30 * time.Minute), EndsAt: at(30 * time.Minute), AttemptsMade: 2}}},
		{"429 is tried later", 0, AttemptOutcome{StatusCode: 429}, nil,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(time.Minute), EndsAt: at(36 * time.Minute)}}},
		{"the schedule used up fails for good", 3, noAnswer, nil, ExtendedStep{Status: StatusFailed}},
		{"404 is final", 0, AttemptOutcome{StatusCode: 404}, nil, ExtendedStep{Status: StatusFailed}},
		{"400 is final", 1, AttemptOutcome{StatusCode: 400}, nil, ExtendedStep{Status: StatusFailed}},
		{"302 is final", 1, AttemptOutcome{StatusCode: 302}, nil, ExtendedStep{Status: StatusFailed}},
		{"204 is final", 1, AttemptOutcome{StatusCode: 204}, nil, ExtendedStep{Status: StatusFailed}},
		{"refused by the guard is final", 1, AttemptOutcome{}, nil, ExtendedStep{Status: StatusFailed}},
		{"jitter changes the wait and the end", 0, noAnswer, plus10,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(66 * time.Second), EndsAt: at(66*time.Second + 35*time.Minute)}}},
		{"Retry-After on 429 replaces the wait (no jitter)", 0, AttemptOutcome{StatusCode: 429, RetryAfter: 10 * time.Minute}, plus10,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(10 * time.Minute), EndsAt: at(45 * time.Minute)}}},
		{"Retry-After on 503 not sooner than half the step", 1, AttemptOutcome{StatusCode: 503, RetryAfter: time.Second}, nil,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(150 * time.Second), EndsAt: at(150*time.Second + 30*time.Minute), AttemptsMade: 1}}},
		{"Retry-After not later than 24 h", 2, AttemptOutcome{StatusCode: 503, RetryAfter: 72 * time.Hour}, nil,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(24 * time.Hour), EndsAt: at(24 * time.Hour), AttemptsMade: 2}}},
		{"Retry-After on 500 is ignored", 0, AttemptOutcome{StatusCode: 500, RetryAfter: 10 * time.Minute}, nil,
			ExtendedStep{StatusFailed, &Redelivery{NextAttemptAt: at(time.Minute), EndsAt: at(36 * time.Minute)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, NextExtendedStep(sched, tt.made, tt.o, now, tt.jitter))
		})
	}
}

func TestExtendedFor(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	ops := "https://ops.example/hook"
	global := DefaultSettings("k")
	global.OperationsWebhookURL = ops
	on := global
	on.ExtendedRedelivery = true
	opsOff := on
	opsOff.OperationsExtendedRedelivery = &no
	opsOn := global
	opsOn.OperationsExtendedRedelivery = &yes
	tests := []struct {
		name       string
		s          Settings
		p          PluginSettings
		url        string
		operations bool
		want       bool
	}{
		{"off by default", global, PluginSettings{}, "https://m.example/", false, false},
		{"global on", on, PluginSettings{}, "https://m.example/", false, true},
		{"plugin off overrides global on", on, PluginSettings{ExtendedRedelivery: &no}, "https://m.example/", false, false},
		{"plugin on overrides global off", global, PluginSettings{ExtendedRedelivery: &yes}, "https://m.example/", true, true},
		{"operations URL follows global", on, PluginSettings{ExtendedRedelivery: &no}, ops, true, true},
		{"operations URL override off", opsOff, PluginSettings{}, ops, true, false},
		{"operations URL override on", opsOn, PluginSettings{}, ops, true, true},
		{"the operations URL as a payment's URL follows the plugin", opsOn, PluginSettings{}, ops, false, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.s.ExtendedFor(tt.p, tt.url, tt.operations), tt.name)
	}
}

func TestSettingsApply_ExtendedRedelivery(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	noSecret := func() (string, error) { return "whsec_x", nil }
	out, _, err := s.Apply(SettingsPatch{"extended_redelivery": json.RawMessage(`true`),
		"extended_schedule": json.RawMessage(`[0.2, 0.4, 60]`), "operations_extended_redelivery": json.RawMessage(`false`)}, noSecret)
	require.NoError(t, err)
	require.True(t, out.ExtendedRedelivery)
	require.Equal(t, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, time.Minute}, out.Schedule())
	require.NotNil(t, out.OperationsExtendedRedelivery)
	require.False(t, *out.OperationsExtendedRedelivery)
	require.Len(t, s.Schedule(), len(DefaultExtendedSchedule), "the default schedule when none is set")

	back, _, err := out.Apply(SettingsPatch{"operations_extended_redelivery": json.RawMessage(`null`), "extended_schedule": json.RawMessage(`[]`)}, noSecret)
	require.NoError(t, err)
	require.Nil(t, back.OperationsExtendedRedelivery)
	require.Nil(t, back.ExtendedSchedule)

	for raw, field := range map[string]string{
		`{"extended_schedule": [0]}`:                                         "extended_schedule",
		`{"extended_schedule": [-1]}`:                                        "extended_schedule",
		`{"extended_schedule": [604801]}`:                                    "extended_schedule",
		`{"extended_schedule": "60"}`:                                        "extended_schedule",
		`{"extended_schedule": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}`: "extended_schedule",
		`{"extended_redelivery": "yes"}`:                                     "extended_redelivery",
		`{"operations_extended_redelivery": 1}`:                              "operations_extended_redelivery",
	} {
		var p SettingsPatch
		require.NoError(t, json.Unmarshal([]byte(raw), &p))
		got, _, err := s.Apply(p, noSecret)
		require.Error(t, err, raw)
		require.Contains(t, err.Error(), field, raw)
		require.Equal(t, s.RedeliverySettings, got.RedeliverySettings, "nothing changes on a bad value")
	}
}
