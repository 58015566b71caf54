/* The fleet view (central_sync/server/fleet.py): asks /fleet.json with the page's own filter
   every few seconds and redraws the alarm, hall and node tables. Text goes in with
   textContent only: what halls send is never read as HTML. When the login has ended the page
   reloads and so shows the login form. */
(function () {
  "use strict";
  var stamp = document.getElementById("fleet-updated");
  if (!stamp) { return; }
  var every = Number(stamp.dataset.every || 2000);
  var source = stamp.dataset.source + window.location.search;

  function when(ts) {
    if (!ts) { return "—"; }
    var d = new Date(ts * 1000), p = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" +
      p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  function ago(now, ts) {
    if (!ts) { return "从未 · never"; }
    var s = Math.max(0, Math.round(now - ts));
    if (s < 120) { return s + " 秒前 · " + s + " s ago"; }
    var m = Math.round(s / 60);
    if (m < 120) { return m + " 分钟前 · " + m + " min ago"; }
    return when(ts);
  }
  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) {
      var span = document.createElement("span");
      span.className = "badge " + cls;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }
  function fill(selector, rows, empty, columns) {
    var body = document.querySelector(selector + " tbody");
    body.textContent = "";
    if (!rows.length) {
      var tr = document.createElement("tr"), td = cell(tr, empty);
      td.colSpan = columns;
      body.appendChild(tr);
    }
    rows.forEach(function (tr) { body.appendChild(tr); });
  }
  function link(online) {
    return online ? ["在线 · Online", "online"] : ["离线 · Offline", "offline"];
  }
  function nodeState(n) {
    if (n.state === "unknown") { return ["未知（服务中心离线）· Unknown (hall offline)", "unknown"]; }
    if (n.online) { return ["在线 · Online", "online"]; }
    if (n.state === "never") { return ["从未连接 · Never connected", "offline"]; }
    var why = {disconnected: "已停止 · stopped", lost: "失联 · lost", stale: "无数据 · silent", retired: "已停用 · retired"}[n.state];
    return ["离线 · Offline" + (why ? "（" + why + "）" : ""), "offline"];
  }

  function draw(data) {
    var alarms = data.alarms.map(function (a) {
      var tr = document.createElement("tr");
      tr.className = "sev-" + a.severity + (a.aed ? " aed" : "");
      tr.dataset.hall = a.hall_id;
      tr.dataset.alarm = a.id;
      cell(tr, a.severity_name);
      cell(tr, a.hall_name + " (" + a.hall_id + ")" + (a.hall_online ? "" : " · 离线 offline"));
      cell(tr, a.text);
      cell(tr, a.state === "ACTIVE_ACK" ? "已确认 · Acknowledged" : "未确认 · Unacknowledged");
      cell(tr, when(a.raised_at));
      return tr;
    });
    fill("table.fleet-alarms", alarms, "没有告警 · No active alarms", 5);
    var nodes = [], online = 0;
    var halls = data.halls.map(function (h) {
      var tr = document.createElement("tr"), l = link(h.online);
      tr.dataset.hall = h.hall_id;
      if (h.online) { online += 1; }
      cell(tr, h.name + " (" + h.hall_id + ")");
      cell(tr, h.region || "—");
      cell(tr, l[0], l[1]);
      cell(tr, ago(data.now, h.last_contact));
      var paper = cell(tr, h.printers.length ? "" : "—");
      h.printers.forEach(function (p) {
        var span = document.createElement("span");
        span.className = "badge " + (p.online ? "paper-" + p.paper : "offline");
        span.textContent = p.printer + ": " + (p.online ? p.paper_name : "离线 · Offline");
        paper.appendChild(span);
        paper.appendChild(document.createTextNode(" "));
      });
      cell(tr, h.backlog === null ? "—" : h.backlog + (h.backlog_age ? "（最早 · oldest " + Math.round(h.backlog_age) + " s）" : ""));
      cell(tr, String(h.alarms_total));
      h.nodes.forEach(function (n) {
        var row = document.createElement("tr"), s = nodeState(n);
        row.dataset.hall = h.hall_id;
        row.dataset.node = n.node;
        cell(row, h.name + " (" + h.hall_id + ")");
        cell(row, n.node);
        cell(row, n.kind);
        cell(row, s[0], s[1]);
        cell(row, ago(data.now, n.last_seen));
        cell(row, n.sw || "—");
        cell(row, n.config_version === null || n.config_version === undefined ? "—" : "v" + n.config_version);
        nodes.push(row);
      });
      return tr;
    });
    fill("table.fleet-halls", halls, "没有服务中心 · No halls", 7);
    fill("table.fleet-nodes", nodes, "没有设备 · No nodes", 7);
    var critical = data.alarms.filter(function (a) { return a.severity === "critical"; }).length;
    var summary = document.getElementById("fleet-summary");
    summary.textContent = "";
    [["服务中心 · Halls: " + data.halls.length, ""],
     ["在线 · Online: " + online, online === data.halls.length ? "good" : "bad"],
     ["紧急告警 · Critical alarms: " + critical, critical ? "bad" : "good"],
     ["告警 · Alarms: " + data.alarms.length, data.alarms.length ? "bad" : "good"]].forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = s[0];
      li.className = s[1];
      summary.appendChild(li);
    });
    stamp.textContent = "更新于 · Updated " + when(data.now);
    stamp.dataset.loaded = String(data.now);
  }

  function poll() {
    fetch(source, {headers: {"Accept": "application/json"}, credentials: "same-origin"}).then(function (r) {
      if (r.status === 401) { window.location.reload(); return null; }
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json();
    }).then(function (data) {
      if (data) { draw(data); }
    }).catch(function () {
      stamp.textContent = "无法刷新，稍后重试 · Cannot refresh, trying again";
    }).then(function () { setTimeout(poll, every); });
  }
  poll();
}());
