package web

import "github.com/payhook/payhook"

// healthForm is the Webhook Config page's block of endpoint health and operator notices
// (docs/endpoint-health.md), as the user sees it.
type healthForm struct {
	EndpointFailingAfter, EndpointDisableAfter, EndpointResumeRate, OperationsNoticesURL string
}

func healthFormOf(s payhook.EndpointHealthSettings) healthForm {
	return healthForm{EndpointFailingAfter: formatSeconds(s.EndpointFailingAfter), EndpointDisableAfter: formatSeconds(s.EndpointDisableAfter),
		EndpointResumeRate: formatSeconds(s.EndpointResumeRate), OperationsNoticesURL: s.OperationsNoticesURL}
}

// patch adds the block's posted fields to the PATCH body (text, number and set are
// configPatch's own helpers).
func (f *healthForm) patch(text func(string, *string, func(string)), number func(string) func(string), set func(string, any)) {
	text("endpoint_failing_after", &f.EndpointFailingAfter, number("endpoint_failing_after"))
	text("endpoint_disable_after", &f.EndpointDisableAfter, number("endpoint_disable_after"))
	text("endpoint_resume_rate", &f.EndpointResumeRate, number("endpoint_resume_rate"))
	text("operations_notices_url", &f.OperationsNoticesURL, func(v string) { set("operations_notices_url", v) })
}

// merge fills the fields that were not posted from the saved ones.
func (f healthForm) merge(saved healthForm) healthForm {
	for _, p := range []struct{ dst, src *string }{
		{&f.EndpointFailingAfter, &saved.EndpointFailingAfter}, {&f.EndpointDisableAfter, &saved.EndpointDisableAfter},
		{&f.EndpointResumeRate, &saved.EndpointResumeRate}, {&f.OperationsNoticesURL, &saved.OperationsNoticesURL},
	} {
		if *p.dst == "\x00" {
			*p.dst = *p.src
		}
	}
	return f
}
