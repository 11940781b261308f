// payhook dashboard: optional, small. Every page works without it; this only keeps the
// Webhook Config page's worst-case explanation and SSL warning in step with what is typed.
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
