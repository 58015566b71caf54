/* The staff console's alarm bell, on every page: asks for the active alarms every few
   seconds; while a critical one is unacknowledged, a red band shows it and a two-tone chime
   sounds (Web Audio, no sound file) until someone taps "知道了". A browser that blocks sound
   until the page is touched shows a button to allow it. When the login has ended, the page
   reloads and so shows the login form: a console that cannot ring says so. */
(function () {
  "use strict";
  var bell = document.getElementById("alarm-bell");
  if (!bell) { return; }
  var text = bell.querySelector(".bell-text"), ack = bell.querySelector(".bell-ack");
  var allow = bell.querySelector(".bell-allow");
  var audio = null, ringing = null, current = null;

  function chime() {
    if (!audio) { audio = new (window.AudioContext || window.webkitAudioContext)(); }
    if (audio.state === "suspended") { audio.resume(); }
    allow.hidden = audio.state === "running";
    [[880, 0], [660, 0.35]].forEach(function (tone) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.25, audio.currentTime + tone[1]);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + tone[1] + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + tone[1]);
      osc.stop(audio.currentTime + tone[1] + 0.32);
    });
    bell.dataset.rang = String(Number(bell.dataset.rang || 0) + 1);
  }
  function ring(on) {
    if (on && !ringing) { chime(); ringing = setInterval(chime, 2000); }
    if (!on && ringing) { clearInterval(ringing); ringing = null; }
    bell.dataset.sounding = on ? "yes" : "no";
  }
  function show(alarms) {
    current = alarms.filter(function (a) { return a.severity === "critical" && a.state === "ACTIVE_UNACK"; })[0] || null;
    bell.hidden = !current;
    if (current) { text.textContent = current.text; }
    ring(!!current);
  }
  function poll() {
    fetch(bell.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        // The login ended (idle, logged out elsewhere): show the login page, not a silent bell.
        if (r.status === 401) { window.location.reload(); }
        return r.ok ? r.json() : { alarms: [] };
      })
      .then(function (j) { show(j.alarms || []); })
      .catch(function () { /* the console's own server is down: the page says so on reload */ });
  }
  ack.addEventListener("click", function () {
    if (!current) { return; }
    fetch(bell.dataset.ack.replace("__id__", encodeURIComponent(current.id)), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": bell.dataset.csrf }
    }).then(poll);
  });
  allow.addEventListener("click", function () { if (audio) { audio.resume(); } allow.hidden = true; });
  poll();
  setInterval(poll, Number(bell.dataset.every || 3) * 1000);
})();
