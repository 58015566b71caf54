/* The kiosk's only script: navigation that leaves no history, the idle countdown, the clock,
   and the on-screen keypad. Hand-written and small: the kiosk works offline and loads fast. */
(function () {
  "use strict";
  var body = document.body;

  /* Every page change replaces the current history entry, so the next resident cannot go
     back to the last one's pages. */
  function go(url) { window.location.replace(url); }

  document.addEventListener("click", function (e) {
    var a = e.target.closest("a[data-nav]");
    if (a) { e.preventDefault(); go(a.href); }
  });

  /* Forms are sent by fetch and answered with where to go next; a second tap while one is
     on its way does nothing, so a double tap never submits twice. */
  document.addEventListener("submit", function (e) {
    var form = e.target;
    e.preventDefault();
    if (form.dataset.busy) { return; }
    form.dataset.busy = "1";
    fetch(form.action, {
      /* The submitter's name=value goes too: a screen of service buttons is one form. */
      method: "POST", body: new FormData(form, e.submitter || null), credentials: "same-origin",
      headers: { "X-Kiosk-Nav": "1" }
    }).then(function (r) { return r.json(); })
      .then(function (j) { go(j.location); })
      .catch(function () { delete form.dataset.busy; form.submit(); });
  });

  document.addEventListener("contextmenu", function (e) { e.preventDefault(); });

  /* Idle: after data-idle seconds without a touch, a countdown; at its end the session ends. */
  var idle = Number(body.dataset.idle) * 1000;
  var countdown = Number(body.dataset.countdown);
  var dialog = document.getElementById("idle");
  var countEl = document.getElementById("idle-count");
  var last = Date.now(), counting = false, left = 0, timer = null;

  function touched() { if (!counting) { last = Date.now(); } }
  ["pointerdown", "keydown", "input", "touchstart"].forEach(function (ev) {
    document.addEventListener(ev, touched, { passive: true });
  });
  function endSession() { go(body.dataset.end); }
  function tick() {
    left -= 1;
    countEl.textContent = String(left);
    if (left <= 0) { clearInterval(timer); endSession(); }
  }
  setInterval(function () {
    if (!counting && Date.now() - last > idle) {
      counting = true;
      left = countdown;
      countEl.textContent = String(left);
      dialog.hidden = false;
      timer = setInterval(tick, 1000);
    }
  }, 500);
  document.getElementById("idle-continue").addEventListener("click", function () {
    clearInterval(timer); counting = false; dialog.hidden = true; last = Date.now();
  });
  document.getElementById("idle-home").addEventListener("click", endSession);

  /* Clock in the hall's time zone, whatever the Pi's own zone is. */
  var offset = Number(body.dataset.tzOffset) * 60000;
  var clock = document.getElementById("clock");
  function showTime() {
    var d = new Date(Date.now() + offset);
    var hh = String(d.getUTCHours()).padStart(2, "0"), mm = String(d.getUTCMinutes()).padStart(2, "0");
    clock.textContent = hh + ":" + mm;
  }
  setInterval(showTime, 10000);

  /* Keypad: types into the field last tapped (the first keypad field to start with). */
  var fields = Array.prototype.slice.call(document.querySelectorAll("[data-keypad]"));
  var current = fields[0] || null;
  fields.forEach(function (f) { f.addEventListener("focus", function () { current = f; }); });
  document.addEventListener("click", function (e) {
    var key = e.target.closest(".key");
    if (!key || !current) { return; }
    var k = key.dataset.key, v = current.value;
    if (k === "clear") { v = ""; }
    else if (k === "back") { v = v.slice(0, -1); }
    else if (v.length < Number(current.maxLength > 0 ? current.maxLength : 32)) { v += k; }
    current.value = v;
    current.dispatchEvent(new Event("input", { bubbles: true }));
    if (current.maxLength > 0 && v.length >= current.maxLength) {
      var next = fields[fields.indexOf(current) + 1];
      if (next) { current = next; next.focus(); }
    }
  });
})();
