// payhook dashboard: optional, small. Every page works without it. It shows the Copy
// buttons (hidden without JavaScript: the values stay selectable text), keeps the
// Webhook Config page's worst-case explanation, SSL and timing warnings in step with what
// is typed, and shows the confirmation of a money or destructive action in a dialog
// (without it, the same confirmation is a page of its own).

// Copy buttons: each copies the text of the element just before it. The clipboard API
// where the page may use it; else the text is selected (and copied where the browser
// still allows it), so that the user can copy it themselves.
(function () {
  "use strict";
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  // What happened is also said to screen readers, in one live region of the page.
  var live = null;
  function say(text) {
    if (!live) {
      live = document.createElement("span");
      live.className = "visually-hidden";
      live.setAttribute("role", "status");
      document.body.appendChild(live);
    }
    live.textContent = text;
  }
  function show(btn, text, state) {
    var what = (btn.getAttribute("aria-label") || "").replace(/^Copy the /, "");
    say(state === "copied" ? "Copied the " + what + "." : "The " + what + " is selected: press Ctrl+C to copy it.");
    btn.textContent = text;
    btn.setAttribute("data-state", state);
    clearTimeout(btn.copyTimer);
    btn.copyTimer = setTimeout(function () {
      btn.textContent = "Copy";
      btn.removeAttribute("data-state");
    }, 4000);
  }
  function fallback(btn, el) {
    selectText(el);
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    if (ok) {
      show(btn, "Copied", "copied");
    } else {
      show(btn, "Selected: press Ctrl+C", "selected");
    }
  }
  var buttons = document.querySelectorAll("button.copy");
  Array.prototype.forEach.call(buttons, function (btn) {
    var el = btn.previousElementSibling;
    if (!el) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var text = el.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () {
          show(btn, "Copied", "copied");
        }, function () {
          fallback(btn, el);
        });
      } else {
        fallback(btn, el);
      }
    });
  });
})();

// Webhook Config: the worst case and the SSL warning follow the form.
(function () {
  "use strict";
  var form = document.getElementById("config-form");
  if (!form) return;
  var timeout = document.getElementById("timeout");
  var retries = document.getElementById("retries");
  var backoff = document.getElementById("backoff_factor");
  var retryOn = document.getElementById("retry_enabled");
  var ssl = document.getElementById("ignore_ssl");
  var out = document.getElementById("worst-case");
  var formula = document.getElementById("worst-case-formula");
  var steps = document.getElementById("worst-case-steps");

  function num(el) {
    var v = el.value.trim();
    return v === "" ? NaN : Number(v);
  }
  function fmt(x) {
    return String(Math.round(x * 1000) / 1000);
  }

  function update() {
    var t = num(timeout), b = num(backoff), r = num(retries);
    if (!(t > 0 && t <= 60) || !(b >= 0 && b <= 3600) || !(r >= 1 && r <= 10 && Math.floor(r) === r)) {
      out.textContent = "—";
      formula.textContent = "(enter a timeout of more than 0 to 60 s, retries of 1 to 10 and a backoff factor of 0 to 3600 s)";
      steps.replaceChildren();
      return;
    }
    var n = retryOn.checked ? r : 1;
    out.textContent = fmt(n * t + (n - 1) * b) + " s";
    formula.textContent = "= " + n + " × " + fmt(t) + " s" + (n > 1 ? " + " + (n - 1) + " × " + fmt(b) + " s" : "") +
      (retryOn.checked ? " (attempts × timeout + waits × backoff factor)" : " (retries are off: one attempt)");
    var items = [];
    for (var i = 0; i < n; i++) {
      var start = i * (t + b);
      var li = document.createElement("li");
      li.textContent = "Attempt " + (i + 1) + " starts at " + fmt(start) + " s and waits up to " + fmt(t) +
        " s for an answer (until " + fmt(start + t) + " s)" +
        (i === n - 1 ? "; with none, the notification is marked failed." : "; with none, payhook waits " + fmt(b) + " s and tries again.");
      items.push(li);
    }
    steps.replaceChildren.apply(steps, items);
  }

  function sslWarning() {
    var w = document.getElementById("ssl-warning");
    if (ssl.checked && !w) {
      w = document.createElement("p");
      w.id = "ssl-warning";
      w.className = "warning";
      w.setAttribute("role", "alert");
      w.textContent = ssl.getAttribute("data-warning");
      document.getElementById("ignore_ssl-help").after(w);
    } else if (!ssl.checked && w) {
      w.remove();
    }
  }

  form.addEventListener("input", update);
  form.addEventListener("change", function () { update(); sslWarning(); });
  update();
})();

// Confirmations, nicer with JavaScript. A form marked data-confirm (refund, capture,
// void, cancel, revoke a key, delete a plugin config) is first posted in the background:
// the server answers its confirmation page (nothing done yet), and the page's
// confirmation is shown in a dialog instead of a new page. Its form is the server's own,
// with the server's Tracking-Key, and posts as a normal form. Anything unexpected (a
// field error, a network failure) falls back to the plain form post, which shows the
// same answer as a page.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.URLSearchParams || typeof HTMLDialogElement === "undefined") return;

  function fallback(form) {
    form.submit(); // does not fire "submit" again
  }

  function show(doc, section) {
    var old = document.getElementById("confirm-dialog");
    if (old) old.remove();
    var dlg = document.createElement("dialog");
    dlg.id = "confirm-dialog";
    dlg.className = "confirm-dialog";
    dlg.setAttribute("aria-labelledby", "confirm-dialog-h");
    var title = document.createElement("h2");
    title.id = "confirm-dialog-h";
    var h1 = doc.querySelector("main h1");
    title.textContent = h1 ? h1.textContent : "Confirm";
    dlg.appendChild(title);
    dlg.appendChild(document.importNode(section, true));
    var back = dlg.querySelector("#go-back");
    if (back) {
      back.addEventListener("click", function (e) {
        e.preventDefault();
        dlg.close();
      });
    }
    dlg.addEventListener("close", function () { dlg.remove(); });
    document.body.appendChild(dlg);
    guard(dlg.querySelector("form"));
    dlg.showModal();
    var btn = dlg.querySelector("#confirm");
    if (btn) btn.focus();
  }

  // guard disables a confirmation's button once it is sent (the server's Tracking-Key
  // already makes a second one harmless).
  function guard(form) {
    if (!form) return;
    form.addEventListener("submit", function () {
      var btn = form.querySelector("button[type=submit]");
      if (btn) setTimeout(function () { btn.disabled = true; }, 0);
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    ev.preventDefault();
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var section = resp.ok ? doc.querySelector("section.confirm") : null;
        if (section) show(doc, section); else fallback(form);
      });
    }).catch(function () { fallback(form); });
  });

  guard(document.getElementById("confirm-form"));
})();

// Webhook Config: the timing warnings (a timeout over 25 s, a worst case over 60 s) follow
// what is typed, like the worst case above. The texts come from the server (data
// attributes of #scenario, {s} for the seconds).
(function () {
  "use strict";
  var form = document.getElementById("config-form");
  var scenario = document.getElementById("scenario");
  if (!form || !scenario) return;
  var timeout = document.getElementById("timeout");
  var retries = document.getElementById("retries");
  var backoff = document.getElementById("backoff_factor");
  var retryOn = document.getElementById("retry_enabled");

  function num(el) {
    var v = el.value.trim();
    return v === "" ? NaN : Number(v);
  }
  function fmt(x) {
    return String(Math.round(x * 1000) / 1000);
  }
  function toggle(id, on, text) {
    var w = document.getElementById(id);
    if (!on) {
      if (w) w.remove();
      return;
    }
    if (!w) {
      w = document.createElement("p");
      w.id = id;
      w.className = "warning";
      scenario.appendChild(w);
    }
    w.textContent = text;
  }
  function update() {
    var t = num(timeout), b = num(backoff), r = num(retries);
    if (!(t > 0 && t <= 60) || !(b >= 0 && b <= 3600) || !(r >= 1 && r <= 10 && Math.floor(r) === r)) return;
    var n = retryOn.checked ? r : 1;
    var worst = n * t + (n - 1) * b;
    toggle("warn-timeout", t > 25, scenario.getAttribute("data-timeout-warning").replace("{s}", fmt(t)));
    toggle("warn-worst-case", worst > 60, scenario.getAttribute("data-worst-case-warning").replace("{s}", fmt(worst)));
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
})();
