package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/payhook/payhook"
)

// codeWords are the words the dashboard shows for a raw code, by what the code is (a
// notification's status and a transaction's state share "pending" and "failed" but not
// their meaning). The code itself is shown beside the words: it is what the API, the
// payloads and the documents use.
var codeWords = map[string]map[string]string{
	"status": {
		string(payhook.StatusPending):   "Waiting to be sent",
		string(payhook.StatusDelivered): "Delivered",
		string(payhook.StatusFailed):    "Failed",
		string(payhook.StatusNotSent):   "Not sent",
		string(payhook.StatusHeld):      "Held: its URL is disabled",
	},
	"reason": {
		string(payhook.ReasonDisabled):                "webhook notifications are off",
		string(payhook.ReasonAPITransactionsDisabled): "off for transactions made through the API",
		string(payhook.ReasonStateFiltered):           "state filtered",
		string(payhook.ReasonNoURL):                   "no webhook URL",
	},
	"state": {
		string(payhook.StateCreated):    "Created",
		string(payhook.StatePending):    "Waiting for payment",
		string(payhook.StateAttempted):  "Tried, not paid yet",
		string(payhook.StateAuthorized): "Authorized, not captured",
		string(payhook.StatePaid):       "Paid",
		string(payhook.StateFailed):     "Failed",
		string(payhook.StateCanceled):   "Canceled",
		string(payhook.StateExpired):    "Expired",
		string(payhook.StateInvalided):  "Invalided",
		string(payhook.StateRefunded):   "Refunded",
		string(payhook.StateCOD):        "Cash on delivery",
	},
	"child": {
		string(payhook.ChildPaid):           "Captured",
		string(payhook.ChildRefunded):       "Refunded",
		string(payhook.ChildRefundRejected): "Refund rejected",
		string(payhook.ChildVoided):         "Voided",
	},
	"result": {
		string(payhook.ResultPending):  "Pending",
		string(payhook.ResultSuccess):  "Success",
		string(payhook.ResultFailed):   "Failed",
		string(payhook.ResultCanceled): "Canceled",
		string(payhook.ResultError):    "Error",
		string(payhook.ResultCOD):      "Cash on delivery",
	},
	"kind": {
		string(payhook.KindPayment):   "Payment",
		string(payhook.KindOperation): "Operation",
		string(payhook.KindDigest):    "Daily digest",
	},
	"origin": {
		string(payhook.OriginAPI):       "API",
		string(payhook.OriginDashboard): "Dashboard",
	},
}

// codeSet is which of codeWords' sets a code's type belongs to ("" for a plain string).
func codeSet(code any) (set, s string) {
	switch c := code.(type) {
	case payhook.Status:
		return "status", string(c)
	case payhook.Reason:
		return "reason", string(c)
	case payhook.State:
		return "state", string(c)
	case payhook.ChildState:
		return "child", string(c)
	case payhook.Result:
		return "result", string(c)
	case payhook.Kind:
		return "kind", string(c)
	case payhook.Origin:
		return "origin", string(c)
	case string:
		return "", c
	}
	return "", fmt.Sprint(code)
}

// words is what a raw code means, in words: "Not sent" for the status not_sent,
// "state filtered" for the reason state_filtered. A code it does not know reads as
// itself with spaces ("some_code" → "Some code"), so a new code never shows empty.
func words(code any) string {
	set, s := codeSet(code)
	if w, ok := codeWords[set][s]; ok {
		return w
	}
	if set == "" {
		for _, name := range []string{"status", "state", "reason", "child", "result", "kind", "origin"} {
			if w, ok := codeWords[name][s]; ok {
				return w
			}
		}
	}
	return upperFirst(strings.ReplaceAll(s, "_", " "))
}

// coded shows a code in words with the code beside it, as a badge coloured by the code:
// "Not sent <not_sent>". The badge alone is what the pages showed before the words.
func coded(code any) template.HTML {
	_, s := codeSet(code)
	if s == "" {
		return `<span class="muted">—</span>`
	}
	e := template.HTMLEscapeString(s)
	return template.HTML(`<span class="coded"><span class="words">` + template.HTMLEscapeString(words(code)) +
		`</span> <span class="badge ` + e + `">` + e + `</span></span>`)
}

// outcome is a notification's status in words, with why it was not sent when it was
// not, and the raw codes beside: "Not sent — state filtered <not_sent> (state_filtered)".
func outcome(status payhook.Status, reason payhook.Reason) template.HTML {
	w := words(status)
	if reason != "" {
		w += " — " + words(reason)
	}
	e := template.HTMLEscapeString(string(status))
	h := `<span class="coded"><span class="words">` + template.HTMLEscapeString(w) + `</span> <span class="badge ` + e + `">` + e + `</span>`
	if reason != "" {
		h += ` <code class="raw">(` + template.HTMLEscapeString(string(reason)) + `)</code>`
	}
	return template.HTML(h + `</span>`)
}

// humanDuration writes a duration for people, with the unit: "0.4 ms", "250 ms", "1.0 s",
// "12.3 s", "2 min 5 s", "1 h 2 min". A negative duration reads as 0 ms.
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return "0 ms"
	}
	if d < time.Millisecond {
		return strconv.FormatFloat(math.Round(float64(d)/float64(time.Millisecond)*10)/10, 'f', -1, 64) + " ms"
	}
	if ms := d.Round(time.Millisecond); ms < time.Second {
		return strconv.FormatInt(ms.Milliseconds(), 10) + " ms"
	}
	if tenths := d.Round(100 * time.Millisecond); tenths < time.Minute {
		return strconv.FormatFloat(tenths.Seconds(), 'f', 1, 64) + " s"
	}
	if secs := d.Round(time.Second); secs < time.Hour {
		m, s := int(secs/time.Minute), int(secs%time.Minute/time.Second)
		if s == 0 {
			return strconv.Itoa(m) + " min"
		}
		return strconv.Itoa(m) + " min " + strconv.Itoa(s) + " s"
	}
	mins := d.Round(time.Minute)
	h, m := int(mins/time.Hour), int(mins%time.Hour/time.Minute)
	if m == 0 {
		return strconv.Itoa(h) + " h"
	}
	return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
}
