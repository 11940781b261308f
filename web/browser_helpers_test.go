package web_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// updateScreenshots makes the browser tests write a full-page PNG of each page they
// visit to docs/screenshots (go test ./web/ -run Browser -update-screenshots). An
// ordinary run writes nothing.
var updateScreenshots = flag.Bool("update-screenshots", false, "write page screenshots to docs/screenshots")

// update is the project's usual refresh flag (golden files elsewhere); here it also writes
// the screenshots.
var update = flag.Bool("update", false, "write page screenshots to docs/screenshots (same as -update-screenshots)")

// screenshotDir is where -update-screenshots writes, from the web package's directory.
const screenshotDir = "../docs/screenshots"

// tabTimeout bounds everything one browser scenario does.
const tabTimeout = 30 * time.Second

// chromiumPath finds Debian's chromium (or another Chromium on PATH). Without one the
// test is skipped loudly, and under CI=true it fails: CI installs chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return phtest.RequireProgram(t, "chromium")
}

// startChromium starts one headless chromium for a test and its subtests, with a fresh
// profile, and stops it when the test ends. The browser talks to chromedp through a
// pipe and resolves no name but loopback, so nothing leaves the machine.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium leaves its singleton socket in TMPDIR: keep it in the test's directory.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser, for as long as ctx lasts.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab is one browser tab on one payhook, in a browser context of its own (its own
// cookies), closed when the test ends or after tabTimeout.
type tab struct {
	t   *testing.T
	env *phtest.Env
	ctx context.Context
}

func newTab(t *testing.T, browserCtx context.Context, env *phtest.Env) *tab {
	t.Helper()
	tctx, cancelTimeout := context.WithTimeout(browserCtx, tabTimeout)
	ctx, cancel := chromedp.NewContext(tctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() {
		cancel()
		cancelTimeout()
	})
	tb := &tab{t: t, env: env, ctx: ctx}
	tb.do(chromedp.EmulateViewport(1280, 900))
	return tb
}

// do runs actions, failing the test with the page's address on an error.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v (at %s)", err, tb.peekLocation())
	}
}

// peekLocation is the tab's address for error messages, without failing.
func (tb *tab) peekLocation() string {
	ctx, cancel := context.WithTimeout(tb.ctx, time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// url turns a path of the env into an address; an absolute address stays.
func (tb *tab) url(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return tb.env.URL + path
}

// open loads a page and returns its HTTP status.
func (tb *tab) open(path string) int64 {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(tb.url(path)))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	return resp.Status
}

// openOK loads a page that must answer 200.
func (tb *tab) openOK(path string) {
	tb.t.Helper()
	require.EqualValues(tb.t, 200, tb.open(path), "GET %s", path)
}

// press clicks what sel selects (a submit button), waits for the page it leads to, and
// returns that page's response (after any redirect).
func (tb *tab) press(sel chromedp.CSS) *network.Response {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(sel, chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("press %s: %v (at %s)", sel, err, tb.peekLocation())
	}
	return resp
}

// pressID is press on the element with that id.
func (tb *tab) pressID(id string) *network.Response {
	tb.t.Helper()
	return tb.press(byID(id))
}

// typeInto replaces a field's value by typing, key by key, as a user does (so that
// the page's input events fire).
func (tb *tab) typeInto(id, value string) {
	tb.t.Helper()
	sel := byID(id)
	// Not SetValue(sel, ""): chromedp v0.23.0 passes the empty string as undefined, and the
	// field would read "undefined".
	clear := `document.getElementById(` + jsString(id) + `).value = ""`
	tb.do(chromedp.WaitVisible(sel), chromedp.Evaluate[chromedp.Void](clear), chromedp.Focus(sel), chromedp.SendKeys(sel, value))
}

// check clicks a checkbox until it is as wanted.
func (tb *tab) check(id string, on bool) {
	tb.t.Helper()
	checked := `document.getElementById(` + jsString(id) + `).checked`
	if tb.jsTrue(checked) != on {
		tb.do(chromedp.Click(byID(id), chromedp.NodeVisible))
	}
	require.Equal(tb.t, on, tb.jsTrue(checked), "#%s checked", id)
}

// byID selects the element with that id (any id, even one CSS would need escaped).
func byID(id string) chromedp.CSS { return chromedp.CSS(`[id=` + jsString(id) + `]`) }

// text returns the text of the element with that id, trimmed.
func (tb *tab) text(id string) string {
	tb.t.Helper()
	return tb.textAt(byID(id))
}

// textAt returns the text of the first element a CSS selector matches, trimmed.
func (tb *tab) textAt(sel chromedp.CSS) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.TextContent(sel, chromedp.NodeReady))
	if err != nil {
		tb.t.Fatalf("text of %s: %v (at %s)", sel, err, tb.peekLocation())
	}
	return strings.Join(strings.Fields(s), " ")
}

// has reports whether the page has an element matching a CSS selector.
func (tb *tab) has(css string) bool {
	tb.t.Helper()
	return tb.count(css) > 0
}

// count is how many elements of the page match a CSS selector.
func (tb *tab) count(css string) int {
	tb.t.Helper()
	n, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(css)+`).length`))
	if err != nil {
		tb.t.Fatalf("count %s: %v (at %s)", css, err, tb.peekLocation())
	}
	return n
}

// noteStatus is the status badge of a notification shown on the page.
func (tb *tab) noteStatus(id string) string {
	tb.t.Helper()
	return tb.textAt(chromedp.CSS(`[id=` + jsString("n-"+id) + `] .note-head .badge`))
}

// attemptAnswers are the answers of a notification's attempts as the page lists them
// ("HTTP 500", …), oldest first.
func (tb *tab) attemptAnswers(id string) []string {
	tb.t.Helper()
	var out []string
	sel := `[id=` + jsString("n-"+id) + `] tr.attempt td:nth-child(4)`
	for i := range tb.count(sel) {
		out = append(out, tb.js(`document.querySelectorAll(`+jsString(sel)+`)[`+strconv.Itoa(i)+`].textContent.trim()`))
	}
	return out
}

// js evaluates a JavaScript expression that gives a string.
func (tb *tab) js(expr string) string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v (at %s)", expr, err, tb.peekLocation())
	}
	return v
}

// jsTrue evaluates a JavaScript expression that gives a boolean.
func (tb *tab) jsTrue(expr string) bool {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v (at %s)", expr, err, tb.peekLocation())
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// location is the address the tab shows.
func (tb *tab) location() string {
	tb.t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	require.NoError(tb.t, err)
	return loc
}

// path is the tab's address without the env's origin.
func (tb *tab) path() string {
	tb.t.Helper()
	return strings.TrimPrefix(tb.location(), tb.env.URL)
}

// signIn creates the staff user and signs in through the form.
func (tb *tab) signIn() {
	tb.t.Helper()
	createStaff(tb.t, tb.env)
	tb.openOK("/dashboard/login")
	tb.fillSignIn(staffEmail, staffPassword)
	resp := tb.press(`form[action="/dashboard/login"] button[type=submit]`)
	require.EqualValues(tb.t, 200, resp.Status)
	require.Equal(tb.t, "/dashboard/transactions", tb.path())
}

// fillSignIn types an email and a password into the sign-in form.
func (tb *tab) fillSignIn(email, password string) {
	tb.t.Helper()
	tb.typeInto("email", email)
	tb.typeInto("password", password)
}

// screenshot writes a full-page PNG of the page to docs/screenshots/NAME.png with
// -update-screenshots, and does nothing otherwise.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	if !*updateScreenshots && !*update {
		return
	}
	if mobileScreenshots[name] {
		// TestBrowserMobile writes this one, with its fuller data, at both widths.
		return
	}
	tb.writeScreenshot(name)
}

// writeScreenshot writes a full-page PNG of the page to docs/screenshots/NAME.png.
func (tb *tab) writeScreenshot(name string) {
	tb.t.Helper()
	// Let the stylesheet and the fonts settle before the picture.
	tb.do(chromedp.WaitReady(chromedp.CSS("body")), chromedp.Evaluate[chromedp.Void](`document.fonts.ready.then(() => true)`, chromedp.EvalAwaitPromise))
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	require.NoError(tb.t, err, "screenshot %s", name)
	require.NoError(tb.t, os.MkdirAll(screenshotDir, 0o755))
	require.NoError(tb.t, os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644))
	tb.t.Logf("wrote %s.png", name)
}

// openDialog presses a button whose form asks for a confirmation and waits for the
// confirmation dialog (no page is loaded).
func (tb *tab) openDialog(id string) {
	tb.t.Helper()
	tb.do(chromedp.Click(byID(id), chromedp.NodeVisible), chromedp.WaitVisible(`#confirm-dialog #confirm`))
}

// Widths of the two screenshots of a page, and of the layout check's phone.
const (
	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844
)

// desktop makes the tab a desktop browser's window (the default of newTab).
func (tb *tab) desktop() {
	tb.t.Helper()
	tb.do(chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// phone makes the tab a phone's screen, 390 × 844 CSS pixels with touch (an iPhone 14).
func (tb *tab) phone() {
	tb.t.Helper()
	tb.do(chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulateTouch))
}

// screenshotsBoth writes docs/screenshots/NAME.png at a desktop's width and
// NAME-mobile.png at a phone's, with -update-screenshots (nothing otherwise). The page at
// path is loaded again at each width; the tab is left at the phone's width.
func (tb *tab) screenshotsBoth(name, path string) {
	tb.t.Helper()
	if !*updateScreenshots && !*update {
		return
	}
	tb.desktop()
	tb.openOK(path)
	tb.writeScreenshot(name)
	tb.phone()
	tb.openOK(path)
	tb.writeScreenshot(name + "-mobile")
}

// layoutProblems lists what does not fit a screen width px wide on the page shown:
// the page scrolling sideways, an element reaching past the screen's right or left edge
// (unless it is inside a box that scrolls sideways on purpose, such as a table's), and
// every button, link button, form field and menu link that is not wholly visible and
// clickable once scrolled to (its middle must hit it, not something on top of it, and
// its text must not be cut). Empty when all is well.
func (tb *tab) layoutProblems(width int) []string {
	tb.t.Helper()
	js := `(() => {
  const W = ` + strconv.Itoa(width) + `, out = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") +
    ' "' + (el.textContent || el.value || "").trim().replace(/\s+/g, " ").slice(0, 40) + '"';
  const root = document.documentElement;
  if (window.innerWidth !== W) out.push("the layout is " + window.innerWidth + " px wide, not " + W + " (the page does not fit, so the phone zooms out)");
  if (root.scrollWidth > W) out.push("the page scrolls sideways: " + root.scrollWidth + " px wide");
  const scroller = el => {
    for (let p = el.parentElement; p && p !== document.body && p !== root; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll") return p;
    }
    return null;
  };
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el)) continue;
    // Inside a box that scrolls sideways is fine, unless the element is positioned
    // against something outside that box (it would then widen the page).
    const box = scroller(el);
    if (box && (!["absolute", "fixed"].includes(getComputedStyle(el).position) || (el.offsetParent && box.contains(el.offsetParent)))) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right > W + 0.5 || r.left < -0.5) out.push(name(el) + " reaches " + Math.round(r.left) + ".." + Math.round(r.right) + " px");
  }
  const controls = "button, a.button, input:not([type=hidden]), select, textarea, header.top nav a, nav.tabs a, nav.pager a";
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el)) continue;
    el.scrollIntoView({block: "center", inline: "center"});
    // scrollIntoView also scrolls a box that hides its overflow, which no user can.
    let hidden = null;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if ((["hidden", "clip"].includes(s.overflowX) && p.scrollLeft !== 0) || (["hidden", "clip"].includes(s.overflowY) && p.scrollTop !== 0)) {
        hidden = p;
        p.scrollLeft = 0;
        p.scrollTop = 0;
      }
    }
    if (hidden) {
      out.push(name(el) + " is cut by " + name(hidden) + ", which hides what overflows it");
      continue;
    }
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.right > W + 0.5 || r.top < -0.5 || r.bottom > window.innerHeight + 0.5) {
      out.push(name(el) + " is not wholly on the screen: " + Math.round(r.left) + ".." + Math.round(r.right) + " px");
      continue;
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === el || el.contains(hit) || (hit.control === el))) out.push(name(el) + " is covered by " + (hit ? name(hit) : "nothing"));
    if (el.tagName === "BUTTON" && el.scrollWidth > el.clientWidth + 1) out.push(name(el) + " has its text cut");
  }
  window.scrollTo(0, 0);
  return JSON.stringify(out);
})()`
	var out []string
	require.NoError(tb.t, json.Unmarshal([]byte(tb.js(js)), &out))
	return out
}

// clickCopy clicks a Copy button and waits until it says Copied.
func (tb *tab) clickCopy(css string) {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
	phtest.Eventually(tb.t, 2*time.Second, func() bool { return tb.textAt(chromedp.CSS(css)) == "Copied" }, css+" says Copied")
}

// clipboard is the text on the clipboard (the page needs the clipboard-read permission).
func (tb *tab) clipboard() string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("read the clipboard: %v (at %s)", err, tb.peekLocation())
	}
	return v
}
