// Relais console: the live queue (EventSource on /console/stream), browser
// notifications and an optional sound. No inline script anywhere: the
// Content-Security-Policy allows scripts from /console/static only.
"use strict";

document.querySelectorAll("input[data-back]").forEach(function (el) {
  el.value = location.pathname;
});

(function () {
  var queue = document.getElementById("queue");
  if (!queue || !window.EventSource) {
    return;
  }
  var live = document.getElementById("live");
  var sound = document.getElementById("sound");
  var notifyBtn = document.getElementById("notify");
  var known = {};
  queue.querySelectorAll("[data-alert]").forEach(function (el) {
    known[el.getAttribute("data-alert")] = true;
  });

  if (sound) {
    sound.checked = localStorage.getItem("relais.sound") === "1";
    sound.addEventListener("change", function () {
      localStorage.setItem("relais.sound", sound.checked ? "1" : "0");
    });
  }
  if (notifyBtn && window.Notification && Notification.permission === "default") {
    notifyBtn.hidden = false;
    notifyBtn.addEventListener("click", function () {
      Notification.requestPermission().then(function () {
        notifyBtn.hidden = true;
      });
    });
  }

  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var o = ctx.createOscillator();
      var g = ctx.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.1;
      o.connect(g);
      g.connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 0.25);
    } catch (e) { /* no audio */ }
  }

  function announce(a) {
    if (known[a.id]) {
      return;
    }
    known[a.id] = true;
    if (window.Notification && Notification.permission === "granted") {
      try {
        new Notification(queue.getAttribute("data-title"), { body: a.summary, tag: a.thread_id || a.id });
      } catch (e) { /* notifications unavailable */ }
    }
    if (sound && sound.checked && a.priority === "high") {
      beep();
    }
  }

  var timer = null;
  function refresh() {
    if (timer) {
      return;
    }
    timer = setTimeout(function () {
      timer = null;
      fetch(queue.getAttribute("data-list"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.redirected || !r.ok) {
            throw new Error("queue list " + r.status);
          }
          return r.text();
        })
        .then(function (html) {
          queue.innerHTML = html;
          queue.setAttribute("data-refreshed", String(Date.now()));
        })
        .catch(function () { /* the next event retries */ });
    }, 100);
  }

  var es = new EventSource(queue.getAttribute("data-stream"));
  es.onopen = function () {
    live.textContent = live.getAttribute("data-label-live");
    live.className = "badge on";
  };
  es.onerror = function () {
    live.textContent = live.getAttribute("data-label-off");
    live.className = "badge off";
    // Signed out (idle, revoked): the list answers with the sign-in page.
    fetch(queue.getAttribute("data-list"), { credentials: "same-origin" }).then(function (r) {
      if (r.redirected) {
        location.assign(r.url);
      }
    }).catch(function () { /* offline: EventSource retries */ });
  };
  ["raised", "acknowledged", "escalated", "withdrawn", "thread"].forEach(function (change) {
    es.addEventListener("alert." + change, function (ev) {
      if (change === "raised") {
        try {
          var u = JSON.parse(ev.data);
          if (u.alert && !u.alert.acknowledged && !u.alert.withdrawn) {
            announce(u.alert);
          }
        } catch (e) { /* not JSON */ }
      }
      refresh();
    });
  });
})();

// A section marked data-refresh="N" (a verification running) reloads the
// page every N seconds until it is done.
document.querySelectorAll("[data-refresh]").forEach(function (el) {
  var s = parseInt(el.getAttribute("data-refresh"), 10) || 2;
  setTimeout(function () {
    location.replace(location.pathname + location.hash);
  }, s * 1000);
});
