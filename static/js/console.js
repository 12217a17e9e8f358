/* Heatsite serial console: xterm.js in the page, bytes over a websocket to the console broker. */
(function () {
  "use strict";

  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (m, k) { return String(obj[k]); });
  };
  var STATES = {
    connecting: [gettext("Connecting…"), "text-bg-secondary"],
    connected: [gettext("Connected"), "text-bg-success"],
    off: [gettext("Node powered off"), "text-bg-dark"],
    lost: [gettext("BMC session lost — reconnecting"), "text-bg-warning"],
    no_session: [gettext("No free BMC session"), "text-bg-danger"],
    gateway_offline: [gettext("Site gateway offline — reconnecting"), "text-bg-warning"],
    failed: [gettext("Console unavailable"), "text-bg-danger"],
    closed: [gettext("Closed (idle)"), "text-bg-secondary"],
    offline: [gettext("Connection to Heatsite lost — reconnecting"), "text-bg-warning"],
    refused: [gettext("Access refused"), "text-bg-danger"]
  };
  var REFUSALS = { 4401: gettext("Your login has expired: reload the page."), 4403: gettext("Your role may not open consoles."), 4404: gettext("No such node."), 4428: gettext("Opening a console needs a recent second factor: reload the page to confirm it is you.") };

  function open(root) {
    var nodeId = root.dataset.nodeId;
    var el = document.getElementById("terminal");
    var byId = function (id) { return document.getElementById(id); };
    var term = new window.Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(el);
    var ws = null, sessionId = null, holder = null, delay = 1000, stopped = false;

    function size() {
      // the terminal fills the window below its own top edge
      var top = el.getBoundingClientRect().top + window.scrollY;
      el.style.height = Math.max(240, window.innerHeight - top - 48) + "px";
      try { fit.fit(); } catch (e) { /* not laid out yet */ }
    }
    window.addEventListener("resize", size);
    size();

    function setState(state, reason) {
      var badge = byId("console-state");
      var info = STATES[state] || [state, "text-bg-secondary"];
      badge.textContent = info[0];
      badge.className = "badge " + info[1];
      badge.dataset.state = state;
      byId("console-reason").textContent = reason || "";
    }

    function notice(text) {
      var box = byId("console-notice");
      box.textContent = text;
      box.className = "small mt-1 text-warning-emphasis";
    }

    function send(obj) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
    }

    function showKeyboard(status) {
      holder = status.holder;
      var mine = holder && holder.session_id === sessionId;
      byId("keyboard-holder").textContent = !holder ? gettext("Nobody holds the keyboard.")
        : mine ? gettext("You hold the keyboard.")
        : interpolate(gettext("%(name)s holds the keyboard."), { name: holder.name }, true);
      byId("keyboard-ask").disabled = !!mine;
      byId("keyboard-take").disabled = !holder || !!mine;
      byId("keyboard-release").disabled = !mine;
      var req = byId("keyboard-request");
      var asked = status.requested;
      if (asked && asked.session_id !== sessionId) {
        req.textContent = interpolate(mine ? gettext("%(name)s asks for the keyboard: release it to hand over.")
          : gettext("%(name)s asks for the keyboard."), { name: asked.name }, true);
        req.classList.remove("d-none");
      } else if (asked) {
        req.textContent = gettext("You asked for the keyboard.");
        req.classList.remove("d-none");
      } else {
        req.classList.add("d-none");
      }
      var list = byId("console-viewers");
      list.replaceChildren();
      (status.viewers || []).forEach(function (v) {
        var li = document.createElement("li");
        li.className = "list-group-item";
        li.textContent = v.name + (v.session_id === sessionId ? " (you)" : "") +
          (holder && v.session_id === holder.session_id ? " ⌨" : "");
        list.appendChild(li);
      });
    }

    function onMessage(msg) {
      if (typeof msg.data !== "string") {
        term.write(new Uint8Array(msg.data));
        return;
      }
      var ev = JSON.parse(msg.data);
      if (ev.type === "hello") {
        sessionId = ev.session_id;
      } else if (ev.type === "status") {
        setState(ev.state, ev.reason_text || ev.reason);
        showKeyboard(ev);
      } else if (ev.type === "reset") {
        term.reset();
      } else if (ev.type === "notice" || ev.type === "error") {
        notice(ev.text);
      } else if (ev.type === "revoked") {
        stopped = true;
        setState("refused", ev.text);
      }
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      ws = new WebSocket(scheme + location.host + "/ws/nodes/" + nodeId + "/console/");
      ws.binaryType = "arraybuffer";
      ws.onopen = function () { delay = 1000; };
      ws.onmessage = onMessage;
      ws.onclose = function (ev) {
        if (REFUSALS[ev.code] || stopped) {
          stopped = true;
          setState("refused", REFUSALS[ev.code] || byId("console-reason").textContent);
          return;
        }
        setState("offline", "");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }

    term.onData(function (data) {
      if (holder && holder.session_id !== sessionId) {
        notice(holder.name + " holds the keyboard: request it or take over.");
        return;
      }
      send({ type: "input", data: data });
    });
    byId("keyboard-ask").addEventListener("click", function () { send({ type: "keyboard", action: "request" }); });
    byId("keyboard-release").addEventListener("click", function () { send({ type: "keyboard", action: "release" }); });
    byId("keyboard-take").addEventListener("click", function () {
      if (window.confirm(holder ? interpolate(gettext("Take the keyboard from %(name)s? This is recorded."), { name: holder.name }, true)
        : gettext("Take the keyboard from its holder? This is recorded."))) {
        send({ type: "keyboard", action: "take" });
      }
    });

    // Power confirmations post in the background: the engineer stays on the console to watch.
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!form.closest || !form.closest("#modal")) return;
      e.preventDefault();
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (r) { notice(r.ok ? gettext("Power action requested: watch the console.")
          : interpolate(gettext("The power request failed (%(status)s)."), { status: r.status }, true)); })
        .catch(function () { notice(gettext("The power request could not be sent.")); });
      var modal = window.bootstrap && window.bootstrap.Modal.getInstance(byId("modal"));
      if (modal) modal.hide();
    });

    connect();
    term.focus();
    window.HeatsiteConsole.terminal = term;  // for the latency benchmark and debugging
    return { terminal: term };
  }

  window.HeatsiteConsole = { open: open };
})();
