package mail

import (
	"sort"
	"time"
)

// floodGate lets at most one email per destination URL through per interval. The
// failures it holds back are counted, so that the next email to that URL sums them up;
// when the interval has passed with failures held back and no new one came, due hands
// them out as a summary. It does no I/O and is not safe for concurrent use.
type floodGate struct {
	interval time.Duration
	urls     map[string]*urlRecord
}

// urlRecord is what the gate remembers of one URL.
type urlRecord struct {
	lastSent  time.Time // when the last email about this URL went out
	held      int       // failures held back since lastSent
	heldSince time.Time // the first of them
	latest    failure   // the latest of them, shown in the summary
}

// summary is an email that sums up the failures held back for one URL.
type summary struct {
	url    string
	latest failure
	held   int
	since  time.Time
}

func newFloodGate(interval time.Duration) *floodGate {
	return &floodGate{interval: interval, urls: map[string]*urlRecord{}}
}

// admit records a failure to url at now. ok is true when it may be emailed now; held and
// since then tell how many failures before it were held back, and since when.
func (g *floodGate) admit(url string, f failure, now time.Time) (ok bool, held int, since time.Time) {
	r := g.urls[url]
	if r == nil {
		g.urls[url] = &urlRecord{lastSent: now}
		return true, 0, time.Time{}
	}
	if now.Sub(r.lastSent) >= g.interval {
		held, since = r.held, r.heldSince
		*r = urlRecord{lastSent: now}
		return true, held, since
	}
	if r.held == 0 {
		r.heldSince = f.at
	}
	r.held++
	r.latest = f
	return false, 0, time.Time{}
}

// due returns the summaries to send at now, oldest URL first: every URL with failures
// held back whose interval has passed, or every one when all is set (at shutdown). It
// forgets the URLs with nothing held back and an interval passed.
func (g *floodGate) due(now time.Time, all bool) []summary {
	var out []summary
	for url, r := range g.urls {
		passed := now.Sub(r.lastSent) >= g.interval
		switch {
		case r.held > 0 && (passed || all):
			out = append(out, summary{url: url, latest: r.latest, held: r.held, since: r.heldSince})
			*r = urlRecord{lastSent: now}
		case r.held == 0 && passed:
			delete(g.urls, url)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].since.Before(out[j].since) })
	return out
}

// giveBack counts n failures, the first at since, as held back again for url: an email
// that could not be sent is summed up in the next one rather than lost.
func (g *floodGate) giveBack(url string, latest failure, n int, since time.Time) {
	if n <= 0 {
		return
	}
	r := g.urls[url]
	if r == nil {
		// Forgotten meanwhile: the next summary may go out at once.
		r = &urlRecord{}
		g.urls[url] = r
	}
	if r.held == 0 || since.Before(r.heldSince) {
		r.heldSince = since
	}
	if r.held == 0 || latest.at.After(r.latest.at) {
		r.latest = latest
	}
	r.held += n
}
