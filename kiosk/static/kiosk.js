/* The kiosk's only script: navigation that leaves no history, the idle countdown, the clock,
   the on-screen keypad and the pinyin keyboard. Hand-written and small: the kiosk works offline and loads fast. */
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
  /* A field marked autofocus (the phone digits after a scanned receipt) is where typing starts. */
  var current = document.querySelector("[data-keypad][autofocus]") || fields[0] || null;
  fields.forEach(function (f) { f.addEventListener("focus", function () { current = f; }); });
  document.addEventListener("click", function (e) {
    var key = e.target.closest(".key[data-key]");
    if (!key || !current) { return; }
    var k = key.dataset.key, v = current.value;
    if (k === "clear") { v = ""; }
    else if (k === "back") { v = v.slice(0, -1); }
    else if (v.length < Number(current.maxLength > 0 ? current.maxLength : 32)) { v += k; }
    current.value = v;
    current.dispatchEvent(new Event("input", { bubbles: true }));
    if (current.maxLength > 0 && v.length >= current.maxLength) {
      /* On to the next field the screen shows (a hidden one would take keys unseen). */
      for (var i = fields.indexOf(current) + 1; i < fields.length; i++) {
        if (fields[i].offsetParent !== null) { current = fields[i]; current.focus(); break; }
      }
    }
  });
  /* Pinyin keyboard: letters collect in the pinyin line; the candidates for them come from
     /ime; tapping one types it into the [data-ime] field last tapped and uses up the letters
     it stands for. In EN mode letters are typed as they are. */
  var ime = document.querySelector(".ime");
  var imeFields = Array.prototype.slice.call(document.querySelectorAll("[data-ime]"));
  var imeField = imeFields[0] || null, pinyin = "", english = false, asked = 0;
  var pinyinEl = ime && ime.querySelector(".ime-pinyin"), candsEl = ime && ime.querySelector(".ime-cands");
  imeFields.forEach(function (f) { f.addEventListener("focus", function () { imeField = f; }); });

  /* Where a page has both keyboards, the one for the field last tapped is shown. */
  var pad = document.querySelector(".keyboards .keypad"), board = document.querySelector(".keyboards .ime");
  function showBoard(letters) { if (pad && board) { board.hidden = !letters; pad.hidden = letters; } }
  if (pad && board) {
    imeFields.forEach(function (f) { f.addEventListener("focus", function () { showBoard(true); }); });
    fields.forEach(function (f) { f.addEventListener("focus", function () { showBoard(false); }); });
    var firstWrong = document.querySelector(".compose .invalid");
    showBoard(!(firstWrong && firstWrong.hasAttribute("data-keypad")));
    if (firstWrong) { firstWrong.focus(); }
  }

  function counts() {
    document.querySelectorAll("[data-count-for]").forEach(function (el) {
      var f = document.getElementById(el.dataset.countFor);
      el.textContent = f.value.length + " / " + f.maxLength;
    });
  }
  function typeIn(field, text) {
    if (!field) { return; }
    var room = field.maxLength > 0 ? field.maxLength - field.value.length : text.length;
    field.value += text.slice(0, Math.max(0, room));
    field.dispatchEvent(new Event("input", { bubbles: true }));
    counts();
  }
  function showCandidates(list) {
    candsEl.textContent = "";
    list.forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "key cand"; b.textContent = c.text; b.dataset.take = String(c.take);
      candsEl.appendChild(b);
    });
  }
  function lookUp() {
    pinyinEl.textContent = pinyin;
    if (!pinyin) { showCandidates([]); return; }
    var mine = ++asked;
    fetch(ime.dataset.imeUrl + "?q=" + encodeURIComponent(pinyin), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) { if (mine === asked) { showCandidates(j.candidates || []); } })
      .catch(function () { if (mine === asked) { showCandidates([]); } });
  }
  if (ime) {
    counts();
    ime.addEventListener("click", function (e) {
      var cand = e.target.closest(".cand");
      if (cand) {
        typeIn(imeField, cand.textContent);
        pinyin = pinyin.slice(Number(cand.dataset.take));
        lookUp();
        return;
      }
      var key = e.target.closest(".ikey");
      if (!key) { return; }
      var k = key.dataset.imeKey;
      if (k === "mode") {
        english = !english; pinyin = ""; lookUp();
        key.setAttribute("aria-pressed", english ? "true" : "false");
        key.classList.toggle("on", english);
      } else if (k === "back") {
        if (pinyin) { pinyin = pinyin.slice(0, -1); lookUp(); }
        else if (imeField) { imeField.value = imeField.value.slice(0, -1); counts(); }
      } else if (k === "clear") {
        pinyin = ""; lookUp();
        if (imeField) { imeField.value = ""; counts(); }
      } else if (k === "space") {
        var first = candsEl.querySelector(".cand");
        if (pinyin && first) { first.click(); } else if (!pinyin) { typeIn(imeField, " "); }
      } else if (k.length === 1 && k >= "a" && k <= "z" && !english) {
        if (pinyin.length < 30) { pinyin += k; lookUp(); }
      } else {
        typeIn(imeField, k);
      }
    });
  }

  /* One-tap phrases: appended to their field, after a comma if it already holds something. */
  document.addEventListener("click", function (e) {
    var p = e.target.closest("[data-phrase]");
    if (!p) { return; }
    var field = document.getElementById(p.dataset.for);
    var sep = field.value && !/[，。,.！!？?\s]$/.test(field.value) ? "，" : "";
    typeIn(field, sep + p.dataset.phrase);
  });

  /* Paying: a long poll that the kiosk answers the moment the edge says the order is final,
     and the code's remaining validity counted down. */
  var pay = document.querySelector("[data-pay-state]");
  if (pay) {
    var payLeft = Number(pay.dataset.expiresIn), leftEl = document.getElementById("pay-left");
    setInterval(function () {
      if (payLeft <= 0) { return; }
      payLeft -= 1;
      leftEl.textContent = Math.floor(payLeft / 60) + ":" + String(payLeft % 60).padStart(2, "0");
    }, 1000);
    var poll = function () {
      fetch(pay.dataset.payState + "?wait=20", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (["paid", "paid_conflict", "closed", "failed", "none"].indexOf(j.status) >= 0) { go(pay.dataset.payDone); }
          else { poll(); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    poll();
  }

  /* Paid: print the receipt once, then say whether to take it or ask at the front desk. */
  var receipt = document.querySelector("form[data-receipt]");
  if (receipt) {
    fetch(receipt.action, { method: "POST", body: new FormData(receipt), credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        receipt.textContent = j.message;
        receipt.classList.add(j.printed ? "ok" : "warn");
        receipt.dataset.done = j.printed ? "printed" : "failed";
      })
      .catch(function () { go(window.location.href); });
  }
})();
