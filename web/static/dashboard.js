// payhook dashboard: optional, small. Every page works without it. It shows the Copy
// buttons (hidden without JavaScript: the values stay selectable text), and keeps the
// Webhook Config page's worst-case explanation and SSL warning in step with what is typed.

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
