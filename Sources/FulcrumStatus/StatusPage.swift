/// The page served at HTTP `/`: static and self-contained (inline CSS and JS, no external
/// asset, so it works on an isolated management network). It loads `/history.json` once, then
/// polls `/status.json` every second and redraws tables and canvas charts of the last five
/// minutes. Names from the config reach the DOM only through textContent and element ids,
/// never as markup. The high-availability section stays hidden while `ha` is null (no `[ha]`
/// section), so a single node's page looks as it did before HA existed; the anycast section
/// likewise while `anycast` is null.
public enum StatusPage {
    public static let contentType = "text/html; charset=utf-8"

    public static let html = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Fulcrum status</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { background: #263238; color: #eceff1; padding: 10px 16px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header span { font-size: 13px; }
main { padding: 12px 16px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
h3 { font-size: 14px; margin: 14px 0 4px; display: flex; gap: 8px; align-items: center; }
table { border-collapse: collapse; background: #fff; font-size: 13px; margin-bottom: 8px; }
th, td { border: 1px solid #d8dce0; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #eceff1; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; color: #fff; border-radius: 3px; padding: 1px 6px; }
.st-ONLINE { background: #2e7d32; }
.st-NO_MONITOR { background: #6d8b74; }
.st-DRAINING { background: #f0a202; color: #222; }
.st-OFFLINE { background: #9e9e9e; }
.st-ERROR { background: #c62828; }
.st-UNKNOWN { background: #81d4fa; color: #222; }
.st-DEGRADED { background: #f0a202; color: #222; }
.st-MASTER { background: #2e7d32; }
.st-BACKUP { background: #1565c0; }
.st-INIT { background: #9e9e9e; }
.st-ANNOUNCED { background: #2e7d32; }
.st-WITHDRAWN { background: #9e9e9e; }
h2 .muted { font-size: 13px; font-weight: normal; margin-left: 8px; }
td.lines { white-space: pre-line; }
.ha-last { font-size: 13px; margin: 0 0 8px; }
#banner { display: none; background: #c62828; color: #fff; padding: 6px 16px; font-weight: 600; }
#banner.shown { display: block; }
.charts { display: flex; gap: 16px; flex-wrap: wrap; }
.chart { background: #fff; border: 1px solid #d8dce0; }
.chart-title { font-size: 13px; margin: 4px 0; }
.legend { font-size: 12px; margin: 2px 0 10px; display: flex; gap: 12px; flex-wrap: wrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
canvas.spark { display: block; }
.muted { color: #777; }
</style>
</head>
<body>
<header>
<h1>Fulcrum</h1>
<span>version <b id="version">-</b></span>
<span>uptime <b id="uptime">-</b></span>
<span>config loaded <b id="config-loaded">-</b></span>
<span>updated <b id="updated">-</b></span>
</header>
<div id="banner" role="alert">connection lost, retrying</div>
<main>
<section id="ha" hidden>
<h2>High availability<span id="ha-instance" class="muted"></span></h2>
<table id="ha-table">
<thead><tr><th>state</th><th>priority (configured / effective)</th><th>master</th><th>virtual IPs</th><th>adverts sent</th><th>adverts received</th><th>discarded</th><th>transitions</th></tr></thead>
<tbody><tr>
<td><span id="ha-state" class="status st-INIT" data-state="">-</span></td>
<td id="ha-priority" class="lines">-</td>
<td id="ha-master">-</td>
<td id="ha-vips" class="lines">-</td>
<td id="ha-adverts-sent" class="num">-</td>
<td id="ha-adverts-received" class="num">-</td>
<td id="ha-adverts-discarded" class="num lines">-</td>
<td id="ha-transitions" class="num">-</td>
</tr></tbody>
</table>
<div class="ha-last">last transition <b id="ha-last-transition">-</b><span id="ha-reason"></span></div>
</section>
<section id="anycast" hidden>
<h2>Anycast<span id="anycast-settings" class="muted"></span></h2>
<table id="anycast-table">
<thead><tr><th>VIP</th><th>announced</th><th>since</th><th>transitions</th><th>operator</th><th>reason</th><th>pending</th></tr></thead>
<tbody></tbody>
</table>
</section>
<h2>Traffic, last 5 minutes</h2>
<div class="charts">
<div><div class="chart-title">new connections / s per listener</div>
<canvas id="chart-connections" class="chart" width="560" height="200" data-points="0"></canvas>
<div id="legend-connections" class="legend"></div></div>
<div><div class="chart-title">bytes / s per listener (in + out)</div>
<canvas id="chart-bytes" class="chart" width="560" height="200" data-points="0"></canvas>
<div id="legend-bytes" class="legend"></div></div>
</div>
<h2>Listeners</h2>
<table id="listeners">
<thead><tr><th>name</th><th>protocol</th><th>address</th><th>pool</th><th>current</th><th>total</th><th>rate /s</th><th>bytes in</th><th>bytes out</th></tr></thead>
<tbody></tbody>
</table>
<h2>Pools</h2>
<div id="pools"></div>
</main>
<script>
"use strict";
(function () {
  var POLL_MS = 1000;
  var TIMEOUT_MS = 2500;
  var WINDOW_S = 300;
  var COLORS = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#455a64"];
  var STATUSES = ["ONLINE", "NO_MONITOR", "DRAINING", "OFFLINE", "ERROR", "UNKNOWN", "DEGRADED"];
  var HA_STATES = ["INIT", "BACKUP", "MASTER"];
  // Points per listener and member: [unixSeconds, connections/s, bytes in/s, bytes out/s].
  var history = { listeners: {}, members: {} };

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function num(v) { return typeof v === "number" && isFinite(v) ? v : 0; }
  function bytes(v) {
    v = num(v);
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    var i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
  }
  function duration(s) {
    s = Math.max(0, Math.floor(num(s)));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    var out = [];
    if (d) { out.push(d + "d"); }
    if (d || h) { out.push(h + "h"); }
    if (d || h || m) { out.push(m + "m"); }
    out.push(s % 60 + "s");
    return out.join(" ");
  }
  function isoTime(s) {
    var t = num(s);
    if (!t) { return "-"; }
    try { return new Date(t * 1000).toISOString().replace(".000Z", "Z"); } catch (e) { return String(t); }
  }
  function statusClass(status) {
    return "status st-" + (STATUSES.indexOf(status) >= 0 ? status : "UNKNOWN");
  }
  function setText(id, text) {
    var node = document.getElementById(id);
    if (node) { node.textContent = text; }
  }
  function fetchJSON(url) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () { if (controller) { controller.abort(); } }, TIMEOUT_MS);
    return fetch(url, { cache: "no-store", signal: controller ? controller.signal : undefined })
      .then(function (response) {
        if (!response.ok) { throw new Error(url + ": HTTP " + response.status); }
        return response.json();
      })
      .finally(function () { clearTimeout(timer); });
  }

  // History: what /history.json had, then one point per poll from the rates in /status.json.
  function addPoint(table, key, point) {
    var series = table[key] || (table[key] = []);
    var last = series.length ? series[series.length - 1] : null;
    if (last && last[0] >= point[0]) { series[series.length - 1] = point; } else { series.push(point); }
    var oldest = point[0] - WINDOW_S;
    while (series.length && series[0][0] < oldest) { series.shift(); }
  }
  function keepOnly(table, keys) {
    Object.keys(table).forEach(function (key) { if (keys.indexOf(key) < 0) { delete table[key]; } });
  }
  function recordStatus(status) {
    var now = num(status.info && status.info.now);
    var listenerKeys = [], memberKeys = [];
    (status.listeners || []).forEach(function (l) {
      listenerKeys.push(l.name);
      addPoint(history.listeners, l.name, [now, num(l.rate), num(l.bytes_in_rate), num(l.bytes_out_rate)]);
    });
    (status.pools || []).forEach(function (p) {
      (p.members || []).forEach(function (m) {
        var key = p.name + "/" + m.name;
        memberKeys.push(key);
        addPoint(history.members, key, [now, num(m.rate), num(m.bytes_in_rate), num(m.bytes_out_rate)]);
      });
    });
    keepOnly(history.listeners, listenerKeys);
    keepOnly(history.members, memberKeys);
  }

  // Charts: hand-drawn lines on a canvas, x = the last WINDOW_S seconds, y from 0 to the peak.
  function prepareCanvas(canvas) {
    var ratio = window.devicePixelRatio || 1;
    var width = Number(canvas.dataset.cssWidth || canvas.width);
    var height = Number(canvas.dataset.cssHeight || canvas.height);
    if (!canvas.dataset.cssWidth) {
      canvas.dataset.cssWidth = String(width);
      canvas.dataset.cssHeight = String(height);
      canvas.style.width = width + "px";
      canvas.style.height = height + "px";
    }
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    var ctx = canvas.getContext("2d");
    if (!ctx) { return null; }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return { ctx: ctx, width: width, height: height };
  }
  // Sub-millisecond checks (loopback, a refused port) read "0.2 ms", not "0 ms".
  function checkDuration(ms) { return (ms < 10 ? ms.toFixed(1) : String(Math.round(ms))) + " ms"; }
  function drawChart(canvas, lines, now, options) {
    if (!canvas) { return; }
    var drawn = 0;
    var area = prepareCanvas(canvas);
    if (!area) { canvas.dataset.points = "0"; return; }
    var ctx = area.ctx;
    var left = options.axes ? 56 : 1, right = area.width - 4, top = 6, bottom = area.height - (options.axes ? 18 : 2);
    var start = now - WINDOW_S;
    var peak = 0;
    lines.forEach(function (line) {
      line.points.forEach(function (p) { if (p[0] >= start) { peak = Math.max(peak, num(p[1])); } });
    });
    // A round step (1, 2 or 5 times a power of ten, at least 1) so the four grid lines read
    // as whole numbers: 0, 5, 10, 15, 20 rather than 0, 6.05, 12.1.
    var rough = Math.max(peak * 1.05 / 4, 1);
    var power = Math.pow(10, Math.floor(Math.log10(rough)));
    var step = [1, 2, 5, 10].map(function (f) { return f * power; }).filter(function (s) { return s >= rough; })[0];
    var scale = step * 4;
    function x(t) { return left + (t - start) / WINDOW_S * (right - left); }
    function y(v) { return bottom - num(v) / scale * (bottom - top); }
    if (options.axes) {
      ctx.strokeStyle = "#e3e6e8";
      ctx.fillStyle = "#555";
      ctx.font = "11px sans-serif";
      ctx.lineWidth = 1;
      for (var i = 0; i <= 4; i++) {
        var v = scale * i / 4;
        ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(right, y(v)); ctx.stroke();
        ctx.fillText(options.format(v), 2, y(v) + 4);
      }
      for (var m = 0; m <= 5; m++) {
        var t = start + m * 60;
        ctx.fillText(m === 5 ? "now" : "-" + (5 - m) + "m", Math.min(x(t) - 8, right - 22), area.height - 4);
      }
    }
    lines.forEach(function (line) {
      var visible = line.points.filter(function (p) { return p[0] >= start; });
      if (!visible.length) { return; }
      ctx.strokeStyle = line.color;
      ctx.lineWidth = options.axes ? 1.5 : 1;
      ctx.beginPath();
      visible.forEach(function (p, index) {
        if (index === 0) { ctx.moveTo(x(p[0]), y(p[1])); } else { ctx.lineTo(x(p[0]), y(p[1])); }
      });
      if (visible.length === 1) { ctx.lineTo(x(visible[0][0]) + 1, y(visible[0][1])); }
      ctx.stroke();
      drawn += visible.length;
    });
    canvas.dataset.points = String(drawn);
  }
  function drawLegend(id, names) {
    var box = document.getElementById(id);
    if (!box) { return; }
    box.replaceChildren();
    names.forEach(function (name, index) {
      var item = el("span", null);
      var swatch = el("i", null);
      swatch.style.background = COLORS[index % COLORS.length];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name));
      box.appendChild(item);
    });
  }
  function drawListenerCharts(now) {
    var names = Object.keys(history.listeners);
    var connections = names.map(function (name, index) {
      return { color: COLORS[index % COLORS.length], points: history.listeners[name] };
    });
    var traffic = names.map(function (name, index) {
      return {
        color: COLORS[index % COLORS.length],
        points: history.listeners[name].map(function (p) { return [p[0], num(p[2]) + num(p[3])]; })
      };
    });
    drawChart(document.getElementById("chart-connections"), connections, now,
      { axes: true, format: function (v) { return v >= 100 ? v.toFixed(0) : v.toFixed(1); } });
    drawChart(document.getElementById("chart-bytes"), traffic, now,
      { axes: true, format: function (v) { return bytes(Math.round(v)); } });
    drawLegend("legend-connections", names);
    drawLegend("legend-bytes", names);
  }

  // Tables: rebuilt from the snapshot on every poll.
  function cell(row, text, numeric) {
    var td = el("td", text, numeric ? "num" : null);
    row.appendChild(td);
    return td;
  }
  function renderHeader(info) {
    setText("version", info.version || "-");
    setText("uptime", duration(info.uptime_seconds));
    setText("config-loaded", isoTime(info.config_loaded_at));
    setText("updated", isoTime(info.now));
  }
  function renderListeners(listeners) {
    var table = document.getElementById("listeners");
    var body = table ? table.tBodies[0] : null;
    if (!body) { return; }
    body.replaceChildren();
    listeners.forEach(function (l) {
      var row = el("tr");
      cell(row, l.name);
      cell(row, l.protocol);
      cell(row, l.address);
      cell(row, l.pool);
      cell(row, num(l.current), true);
      cell(row, num(l.total), true);
      cell(row, num(l.rate), true);
      cell(row, bytes(l.bytes_in), true);
      cell(row, bytes(l.bytes_out), true);
      body.appendChild(row);
    });
  }
  var MEMBER_COLUMNS = ["member", "address", "status", "last check", "duration", "weight", "admin",
    "current", "total", "bytes in", "bytes out", "connections / s"];
  function renderPools(pools, now) {
    var box = document.getElementById("pools");
    if (!box) { return; }
    box.replaceChildren();
    pools.forEach(function (p) {
      var title = el("h3", null);
      title.appendChild(el("span", p.name));
      title.appendChild(el("span", p.status, statusClass(p.status)));
      title.appendChild(el("span", (p.algorithm || "") + (p.monitor ? ", monitor " + p.monitor : ", no monitor"), "muted"));
      box.appendChild(title);
      var table = el("table");
      table.className = "members";
      var headRow = el("tr");
      MEMBER_COLUMNS.forEach(function (name) { headRow.appendChild(el("th", name)); });
      table.appendChild(el("thead")).appendChild(headRow);
      var body = table.appendChild(el("tbody"));
      (p.members || []).forEach(function (m) {
        var row = el("tr");
        var health = m.health || null;
        var tcp = m.tcp || {}, udp = m.udp || {};
        cell(row, m.name);
        cell(row, m.address);
        var statusCell = cell(row, null);
        var badge = el("span", m.status, statusClass(m.status));
        badge.id = "member-" + p.name + "-" + m.name;
        badge.setAttribute("data-status", String(m.status));
        statusCell.appendChild(badge);
        cell(row, health && health.last_check ? health.last_check : "-");
        cell(row, health && health.last_check ? checkDuration(num(health.last_check_duration_ms)) : "-", true);
        cell(row, num(m.weight), true);
        cell(row, m.admin_state_up === false ? "disabled" : m.admin_state);
        cell(row, num(m.current), true);
        cell(row, num(tcp.connections) + num(udp.sessions), true);
        cell(row, bytes(num(tcp.bytes_to_member) + num(udp.bytes_to)), true);
        cell(row, bytes(num(tcp.bytes_from_member) + num(udp.bytes_from)), true);
        var sparkCell = cell(row, null);
        var spark = el("canvas", null, "spark");
        spark.width = 120;
        spark.height = 22;
        spark.id = "spark-" + p.name + "-" + m.name;
        spark.setAttribute("data-points", "0");
        sparkCell.appendChild(spark);
        body.appendChild(row);
        var points = history.members[p.name + "/" + m.name] || [];
        drawChart(spark, [{ color: "#1565c0", points: points }], now, { axes: false });
        if (health && health.last_check_detail) { row.title = health.last_check_detail; }
      });
      box.appendChild(table);
    });
  }

  // High availability: fixed cells filled by id; the whole section hides when HA is off, also
  // after a reload that removed [ha] while the page was open. Lists go one per line (cells
  // with white-space: pre-line) so the table stays narrow enough for the page's width.
  function list(values, separator) {
    return Array.isArray(values) && values.length ? values.join(separator || ", ") : "none";
  }
  function renderHA(ha, now) {
    var section = document.getElementById("ha");
    if (!section) { return; }
    section.hidden = !ha || typeof ha !== "object";
    if (section.hidden) { return; }
    var badge = document.getElementById("ha-state");
    if (badge) {
      badge.textContent = String(ha.state);
      badge.className = "status st-" + (HA_STATES.indexOf(ha.state) >= 0 ? ha.state : "INIT");
      badge.setAttribute("data-state", String(ha.state));
    }
    setText("ha-instance", (ha.interface || "-") + ", VRID " + num(ha.virtual_router_id) + ", " +
      (ha.mode === "unicast" ? "unicast to " + list(ha.unicast_peers) : "multicast") +
      ", advert every " + num(ha.advert_interval_ms) + " ms, " + (ha.preempt ? "preempt" : "no preempt"));
    var down = Array.isArray(ha.tracked_pools_down) && ha.tracked_pools_down.length ?
      "\ntracked down: " + list(ha.tracked_pools_down) : "";
    setText("ha-priority", num(ha.priority) + " / " + num(ha.effective_priority) + down);
    setText("ha-master", ha.master ? ha.master + (ha.state === "MASTER" ? " (this node)" : "") : "unknown");
    setText("ha-vips", list(ha.virtual_ips, "\n"));
    setText("ha-adverts-sent", String(num(ha.adverts_sent)));
    setText("ha-adverts-received", String(num(ha.adverts_received)));
    // The total, then each reason that occurred: a spoofing host and a bad checksum differ.
    var discards = ha.discards && typeof ha.discards === "object" ? ha.discards : {};
    var total = 0, reasons = [];
    Object.keys(discards).forEach(function (reason) {
      var count = num(discards[reason]);
      total += count;
      if (count) { reasons.push(reason + " " + count); }
    });
    setText("ha-adverts-discarded", [String(total)].concat(reasons).join("\n"));
    setText("ha-transitions", num(ha.transitions) + " (" + num(ha.became_master) + " to master)");
    var at = ha.last_transition_at;
    setText("ha-last-transition", typeof at === "number" ?
      isoTime(at) + " (" + duration(now - at) + " ago)" : "none");
    setText("ha-reason", ha.last_transition_reason ? ": " + ha.last_transition_reason : "");
  }

  // Anycast: one row per VIP, rebuilt on every poll; hidden when anycast is off, also after a
  // reload that removed [anycast] while the page was open. A badge per VIP (id by address)
  // says whether routers send it traffic; the operator column tells a drain from a failure.
  function renderAnycast(anycast, now) {
    var section = document.getElementById("anycast");
    if (!section) { return; }
    section.hidden = !anycast || typeof anycast !== "object";
    if (section.hidden) { return; }
    setText("anycast-settings", (anycast.interface || "-") + " (" + (anycast.interface_kind || "-") + "), " +
      "announce_when " + (anycast.announce_when || "-") + ", hold_down " + num(anycast.hold_down_ms) + " ms, " +
      "withdraw_grace " + num(anycast.withdraw_grace_ms) + " ms");
    var table = document.getElementById("anycast-table");
    var body = table ? table.tBodies[0] : null;
    if (!body) { return; }
    body.replaceChildren();
    (Array.isArray(anycast.vips) ? anycast.vips : []).forEach(function (v) {
      var row = el("tr");
      cell(row, v.address);
      var word = v.announced ? "ANNOUNCED" : "WITHDRAWN";
      var badge = el("span", word.toLowerCase(), "status st-" + word);
      badge.id = "anycast-vip-" + v.address;
      badge.setAttribute("data-announced", v.announced ? "true" : "false");
      cell(row, null).appendChild(badge);
      var since = num(v.since);
      cell(row, since ? isoTime(since) + " (" + duration(now - since) + " ago)" : "-");
      cell(row, num(v.transitions), true);
      cell(row, v.withdrawn_by_operator ? "withdrawn" : "-");
      cell(row, v.reason || "-");
      cell(row, v.pending || "-");
      if (Array.isArray(v.pools) && v.pools.length) { row.title = "pools: " + list(v.pools); }
      body.appendChild(row);
    });
  }

  function showBanner(shown, text) {
    var banner = document.getElementById("banner");
    if (!banner) { return; }
    if (text) { banner.textContent = text; }
    banner.className = shown ? "shown" : "";
  }
  function render(status) {
    var info = status.info || {};
    var now = num(info.now);
    renderHeader(info);
    renderHA(status.ha || null, now);
    renderAnycast(status.anycast || null, now);
    renderListeners(status.listeners || []);
    drawListenerCharts(now);
    renderPools(status.pools || [], now);
  }
  function poll() {
    fetchJSON("/status.json")
      .then(function (status) {
        recordStatus(status);
        render(status);
        showBanner(false);
      })
      .catch(function (error) {
        showBanner(true, "connection lost (" + (error && error.name === "AbortError" ? "timed out" : "no answer") + "), retrying");
      })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }
  function start() {
    fetchJSON("/history.json")
      .then(function (loaded) {
        if (loaded && typeof loaded === "object") {
          history.listeners = loaded.listeners || {};
          history.members = loaded.members || {};
        }
      })
      .catch(function () { /* no history: the charts start with the first poll */ })
      .finally(poll);
  }
  start();
})();
</script>
</body>
</html>

"""#
}
