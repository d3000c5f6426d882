// The status page behind `GET /` on the admin listener: one self-contained HTML document (inline CSS
// and JS, no external asset, no build step) that polls `GET /status` and draws it. The page carries no
// data of its own, so it is served without the key; every figure comes from /status, which the page
// asks for with the `X-API-KEY` the operator typed into its login form (kept in sessionStorage, never in
// a URL). The Content-Security-Policy admits only this script and this style, by hash.
//
// The script is plain ES2020 in a template string: it must not contain a backtick or a dollar-brace.
import { createHash } from 'node:crypto';

const style = String.raw`
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --fg: #1d2330; --muted: #687083; --line: #e2e5ea;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --info: #0969da; --bar: #c8d1dc; --fill: #0969da; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1217; --card: #171b22; --fg: #e6e9ef; --muted: #8b93a3;
  --line: #2a303b; --ok: #3fb950; --bad: #f85149; --warn: #d29922; --info: #58a6ff; --bar: #30363d; --fill: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--card); flex-wrap: wrap; }
header h1 { font-size: 16px; margin: 0; }
header .meta { color: var(--muted); display: flex; gap: 14px; flex-wrap: wrap; }
header .spacer { flex: 1; }
main { padding: 16px 20px; max-width: 1500px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 16px; overflow-x: auto; }
section h2 { font-size: 14px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); }
section h2 small { color: var(--muted); font-weight: normal; margin-left: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
tr:last-child td { border-bottom: none; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.err { white-space: normal; min-width: 220px; max-width: 380px; color: var(--muted); word-break: break-word; }
.sub { display: block; color: var(--muted); font-size: 11px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); } .muted { color: var(--muted); } .info { color: var(--info); }
.share { display: flex; align-items: center; gap: 8px; }
.bar { position: relative; width: 110px; height: 8px; border-radius: 4px; background: var(--bar); }
.bar .fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; background: var(--fill); }
.bar .mark { position: absolute; top: -3px; bottom: -3px; width: 2px; background: var(--fg); }
.events td { white-space: normal; }
.banner { padding: 8px 20px; background: var(--bad); color: #fff; }
.stale main { opacity: .55; }
form.login { max-width: 360px; margin: 12vh auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 22px; }
form.login h1 { font-size: 16px; margin: 0 0 12px; }
form.login input { width: 100%; padding: 8px; margin: 6px 0 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); font: inherit; }
button { padding: 6px 14px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); font: inherit; cursor: pointer; }
form.login button { background: var(--info); color: #fff; border-color: var(--info); }
.hidden { display: none; }
.empty { padding: 12px 14px; color: var(--muted); }
`;

const script = String.raw`
(function () {
  'use strict';
  var KEY = 'aipm-admin-key';
  var POLL_MS = 2000;
  var key = sessionStorage.getItem(KEY);
  var timer = null;
  var last = null;
  var app = document.getElementById('app');
  var login = document.getElementById('login');
  var loginError = document.getElementById('login-error');
  var banner = document.getElementById('banner');

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] === undefined || attrs[k] === null) continue;
      if (k === 'text') el.textContent = String(attrs[k]);
      else if (k === 'class') el.className = attrs[k];
      else el.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }
  function time(iso) { return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : ''; }
  function ago(ms) {
    var s = Math.round(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  }
  function pct(x) { return (Math.round(x * 1000) / 10) + '%'; }
  function ms(x) { return x === null || x === undefined ? '—' : x >= 1000 ? (Math.round(x / 100) / 10) + ' s' : Math.round(x) + ' ms'; }
  function short(id) { return id ? String(id).slice(0, 8) : '?'; }
  function perMin(n, windowMs) { return Math.round(n * 60000 / windowMs); }
  function num(n) { return n >= 10000 ? (Math.round(n / 100) / 10) + 'k' : String(n); }
  function replicaLabel(id, self) { return id ? (id === self ? 'this replica' : 'replica ' + short(id)) : ''; }

  function healthCell(i, self) {
    var cls = { healthy: 'ok', unhealthy: 'bad', unknown: 'muted', unchecked: 'muted' }[i.health] || 'muted';
    var td = h('td', { 'data-field': 'health' }, h('span', { class: 'badge ' + cls, text: i.health === 'unchecked' ? 'not checked' : i.health }));
    if (i.health_since) td.appendChild(h('span', { class: 'sub', text: 'since ' + time(i.health_since) }));
    if (i.health_reported_by) td.appendChild(h('span', { class: 'sub', text: 'probed by ' + replicaLabel(i.health_reported_by, self) }));
    return td;
  }
  function breakerCell(b, self, now) {
    var cls = b.state === 'closed' ? 'ok' : b.state === 'open' ? 'bad' : 'warn';
    var td = h('td', { 'data-field': 'breaker' }, h('span', { class: 'badge ' + cls, text: b.state.replace('_', '-') }));
    if (b.state === 'open' && b.until) {
      td.appendChild(h('span', { class: 'sub', text: 'until ' + time(b.until) + ' (' + ago(Math.max(0, Date.parse(b.until) - now)) + ')' }));
    } else if (b.state === 'half_open') {
      td.appendChild(h('span', { class: 'sub', text: 'one trial request admitted' }));
    } else if (b.since) {
      td.appendChild(h('span', { class: 'sub', text: 'since ' + time(b.since) }));
    }
    if (b.state !== 'closed' && b.reason) td.appendChild(h('span', { class: 'sub', text: b.reason }));
    if (b.reported_by && b.state !== 'closed') td.appendChild(h('span', { class: 'sub', text: 'by ' + replicaLabel(b.reported_by, self) }));
    if (b.state === 'closed') td.appendChild(h('span', { class: 'sub', text: b.failures_in_window + ' of ' + b.calls_in_window + ' failed in window' }));
    return td;
  }
  // The fleet's last minute for one instance: every replica's latest report added up (this one's is fresh).
  function fleetTotals(routeId, name, report) {
    var t = { attempts: 0, failures: 0, in_flight: 0, tokens: 0, cost: null };
    (report.fleet || []).forEach(function (r) {
      var s = r.routes[routeId] && r.routes[routeId][name];
      if (!s) return;
      t.attempts += s.attempts; t.failures += s.failures; t.in_flight += s.in_flight; t.tokens += s.tokens;
      if (typeof s.cost_usd === 'number') t.cost = (t.cost || 0) + s.cost_usd;
    });
    return t;
  }
  function shareCell(i, share) {
    var bar = h('div', { class: 'bar', title: 'actual ' + pct(share) + ', weight aims at ' + pct(i.expected_share) });
    var fill = h('div', { class: 'fill' });
    fill.style.width = Math.min(100, share * 100) + '%';
    var mark = h('div', { class: 'mark' });
    mark.style.left = 'calc(' + Math.min(100, i.expected_share * 100) + '% - 1px)';
    bar.appendChild(fill);
    bar.appendChild(mark);
    return h('td', { 'data-field': 'share' },
      h('div', { class: 'share' }, bar, h('span', { text: pct(share) })),
      h('span', { class: 'sub', text: 'weight ' + i.weight + ' → ' + pct(i.expected_share) + ' · priority ' + i.priority }));
  }

  // The newest failure any replica saw on the instance (this replica's own is the freshest for it).
  function newestError(routeId, i, report) {
    var best = i.last_error ? { at: Date.parse(i.last_error.at), reason: i.last_error.reason, by: report.replica } : null;
    (report.fleet || []).forEach(function (r) {
      var s = r.routes[routeId] && r.routes[routeId][i.name];
      if (s && s.last_error && (!best || s.last_error.at > best.at)) best = { at: s.last_error.at, reason: s.last_error.reason, by: r.replica };
    });
    return best;
  }

  function routeSection(route, report, now) {
    var w = report.window_ms;
    var withCost = route.instances.some(function (i) { return fleetTotals(route.id, i.name, report).cost !== null; });
    var head = h('tr', null, h('th', { text: 'instance' }), h('th', { text: 'health' }), h('th', { text: 'breaker' }),
      h('th', { text: 'share of traffic' }), h('th', { class: 'num', text: 'in flight' }), h('th', { class: 'num', text: 'p50 latency' }),
      h('th', { class: 'num', text: 'p50 TTFT' }), h('th', { class: 'num', text: 'req/min' }), h('th', { class: 'num', text: 'tokens/min' }),
      withCost ? h('th', { class: 'num', text: 'cost/min' }) : null, h('th', { text: 'last error' }));
    var body = h('tbody');
    var totals = {};
    var routeAttempts = 0;
    route.instances.forEach(function (i) {
      totals[i.name] = fleetTotals(route.id, i.name, report);
      routeAttempts += totals[i.name].attempts;
    });
    route.instances.forEach(function (i) {
      var lm = i.last_minute;
      var t = totals[i.name];
      var err = newestError(route.id, i, report);
      body.appendChild(h('tr', { 'data-instance': route.id + '/' + i.name },
        h('td', null, h('strong', { text: i.name }), h('span', { class: 'sub', text: i.provider })),
        healthCell(i, report.replica),
        breakerCell(i.breaker, report.replica, now),
        shareCell(i, routeAttempts === 0 ? 0 : t.attempts / routeAttempts),
        h('td', { class: 'num', 'data-field': 'in_flight', text: t.in_flight }),
        h('td', { class: 'num', 'data-field': 'latency', text: ms(lm.latency_p50_ms) }),
        h('td', { class: 'num', 'data-field': 'ttft', text: ms(lm.ttft_p50_ms) }),
        h('td', { class: 'num', 'data-field': 'requests' }, String(perMin(t.attempts, w)),
          t.failures ? h('span', { class: 'sub bad', text: perMin(t.failures, w) + ' failed' }) : null),
        h('td', { class: 'num', 'data-field': 'tokens', text: num(perMin(t.tokens, w)) }),
        withCost ? h('td', { class: 'num', 'data-field': 'cost', text: t.cost === null ? '—' : '$' + (t.cost * 60000 / w).toFixed(4) }) : null,
        h('td', { class: 'err', 'data-field': 'last_error' }, err ? h('span', { text: err.reason }) : h('span', { class: 'muted', text: '—' }),
          err ? h('span', { class: 'sub', text: time(new Date(err.at).toISOString()) + ' · ' + replicaLabel(err.by, report.replica) }) : null)));
    });
    return h('section', { 'data-route': route.id },
      h('h2', null, 'Route ' + route.id, h('small', { text: route.instances.length + ' instances · the fleet\'s last minute; medians from this replica' })),
      h('table', null, h('thead', null, head), body));
  }

  function fleetSection(report, now) {
    var fleet = report.fleet || [];
    var head = h('tr', null, h('th', { text: 'route / instance' }));
    fleet.forEach(function (r) {
      head.appendChild(h('th', { class: 'num' }, r.replica === report.replica ? 'this replica' : 'replica ' + short(r.replica),
        h('span', { class: 'sub', text: r.host + ' · pid ' + r.pid }),
        h('span', { class: 'sub', text: r.store + ' · reported ' + ago(Math.max(0, now - r.at)) + ' ago' })));
    });
    var body = h('tbody');
    report.routes.forEach(function (route) {
      route.instances.forEach(function (i) {
        var row = h('tr', { 'data-fleet': route.id + '/' + i.name }, h('td', { text: route.id + ' / ' + i.name }));
        fleet.forEach(function (r) {
          var s = r.routes[route.id] && r.routes[route.id][i.name];
          if (!s) { row.appendChild(h('td', { class: 'num muted', text: '—' })); return; }
          row.appendChild(h('td', { class: 'num' }, s.attempts + ' req' + (s.failures ? ', ' : ''),
            s.failures ? h('span', { class: 'bad', text: s.failures + ' failed' }) : null,
            h('span', { class: 'sub', text: s.in_flight + ' in flight · p50 ' + ms(s.latency_p50_ms === null ? s.ttft_p50_ms : s.latency_p50_ms) + ' · ' + num(s.tokens) + ' tok' })));
        });
        body.appendChild(row);
      });
    });
    return h('section', { id: 'fleet' },
      h('h2', null, 'Fleet', h('small', { text: fleet.length + (fleet.length === 1 ? ' replica' : ' replicas') + ' sharing state through ' + (report.state_store === 'memory' ? 'memory (this process only)' : 'Redis') + ' · last minute as each replica reported it' })),
      h('table', null, h('thead', null, head), body));
  }

  var KINDS = { fallback: ['fallback', 'warn'], failed: ['failed', 'bad'], breaker_opened: ['breaker opened', 'bad'],
    breaker_closed: ['breaker closed', 'ok'], unhealthy: ['unhealthy', 'bad'], healthy: ['healthy', 'ok'] };
  function eventText(e, self) {
    var who = e.instance ? e.route + ' / ' + e.instance : e.route;
    if (e.kind === 'fallback') return e.route + ': ' + e.from + ' → ' + e.to + ' after ' + e.status + (e.reason ? ' (' + e.reason + ')' : '');
    if (e.kind === 'failed') return e.route + ': request answered ' + e.status + (e.reason ? ' — ' + e.reason : '');
    if (e.kind === 'breaker_opened') return who + ' held out' + (e.until ? ' until ' + time(new Date(e.until).toISOString()) : '') + (e.reason ? ': ' + e.reason : '');
    if (e.kind === 'breaker_closed') return who + (e.reason ? ': ' + e.reason : '');
    return who + ' marked ' + e.kind + ' by the active checks';
  }
  function eventsSection(report) {
    var events = report.events || [];
    if (events.length === 0) return h('section', { id: 'events' }, h('h2', { text: 'Recent events' }), h('div', { class: 'empty', text: 'No fallback, failure, breaker or health change yet.' }));
    var body = h('tbody');
    events.slice(0, 50).forEach(function (e) {
      var k = KINDS[e.kind] || [e.kind, 'muted'];
      body.appendChild(h('tr', { 'data-event': e.kind },
        h('td', { class: 'muted', text: time(new Date(e.at).toISOString()) }),
        h('td', null, h('span', { class: 'badge ' + k[1], text: k[0] })),
        h('td', { text: eventText(e, report.replica) }),
        h('td', { class: 'muted', text: replicaLabel(e.by, report.replica) })));
    });
    return h('section', { id: 'events', class: 'events' },
      h('h2', null, 'Recent events', h('small', { text: 'fallbacks, failed requests, breaker and health changes, newest first' })),
      h('table', null, body));
  }

  function render(report) {
    var now = Date.now();
    document.getElementById('replica').textContent = 'replica ' + short(report.replica);
    document.getElementById('store').textContent = 'state: ' + report.state_store;
    document.getElementById('updated').textContent = 'updated ' + time(report.generated_at);
    var content = h('div');
    if (report.routes.length === 0) content.appendChild(h('section', null, h('div', { class: 'empty', text: 'No routes configured.' })));
    report.routes.forEach(function (route) { content.appendChild(routeSection(route, report, now)); });
    content.appendChild(eventsSection(report));
    content.appendChild(fleetSection(report, now));
    app.replaceChildren(content);
  }

  function showLogin(message) {
    clearTimeout(timer);
    document.body.classList.remove('stale');
    document.getElementById('page').classList.add('hidden');
    login.classList.remove('hidden');
    loginError.textContent = message || '';
    document.getElementById('key').focus();
  }
  function showPage() {
    login.classList.add('hidden');
    document.getElementById('page').classList.remove('hidden');
    document.getElementById('logout').classList.toggle('hidden', !key);
  }

  function poll() {
    clearTimeout(timer);
    var headers = { accept: 'application/json' };
    if (key) headers['X-API-KEY'] = key;
    fetch('status', { headers: headers, cache: 'no-store', credentials: 'omit' }).then(function (res) {
      if (res.status === 401) {
        var had = key;
        key = null;
        sessionStorage.removeItem(KEY);
        showLogin(had ? 'That key was refused.' : '');
        return null;
      }
      if (!res.ok) throw new Error('/status answered ' + res.status);
      return res.json();
    }).then(function (report) {
      if (!report) return;
      last = report;
      banner.classList.add('hidden');
      document.body.classList.remove('stale');
      showPage();
      render(report);
      timer = setTimeout(poll, POLL_MS);
    }).catch(function (err) {
      banner.textContent = 'Status unavailable (' + (err && err.message ? err.message : err) + '), retrying…';
      banner.classList.remove('hidden');
      if (last) document.body.classList.add('stale');
      timer = setTimeout(poll, POLL_MS);
    });
  }

  login.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var input = document.getElementById('key');
    key = input.value;
    input.value = '';
    if (key) sessionStorage.setItem(KEY, key);
    loginError.textContent = '';
    poll();
  });
  document.getElementById('logout').addEventListener('click', function () {
    key = null;
    sessionStorage.removeItem(KEY);
    app.replaceChildren();
    showLogin('Signed out.');
  });
  poll();
})();
`;

const body = String.raw`
<div id="banner" class="banner hidden" role="alert"></div>
<form id="login" class="login hidden" autocomplete="off">
  <h1>ai-proxy-multi status</h1>
  <label for="key">Admin API key</label>
  <input id="key" name="key" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
  <p id="login-error" class="bad" role="alert"></p>
</form>
<div id="page" class="hidden">
  <header>
    <h1>ai-proxy-multi</h1>
    <div class="meta"><span id="replica"></span><span id="store"></span><span id="updated"></span></div>
    <div class="spacer"></div>
    <button id="logout" type="button" class="hidden">Sign out</button>
  </header>
  <main id="app"></main>
</div>
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page, and the policy that lets exactly its inline script and style run. */
export const statusPage = {
  html: `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ai-proxy-multi status</title>
<style>${style}</style>
</head>
<body>${body}<script>${script}</script>
</body>
</html>
`,
  contentSecurityPolicy: [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
};
