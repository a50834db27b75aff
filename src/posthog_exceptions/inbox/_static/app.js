// The local inbox's page: issues, one issue, and a live list of events.
//
// Everything shown comes from the inbox's JSON API (/api/...) and is event data: it is
// put into the document with textContent, text nodes and attributes only, never parsed
// as markup (no innerHTML anywhere). Live updates: an EventSource on /api/stream gets a
// "commit" event whenever the inbox stores events; the page then asks the API for what
// changed. Without EventSource, or while the stream is down, it polls every 2 seconds.
(function () {
  "use strict";

  var app = document.getElementById("app");
  var live = document.getElementById("live");
  var MAX_EVENTS = 500;
  var LINKS = {
    cause: "The above exception was the direct cause of the following exception:",
    context: "During handling of the above exception, another exception occurred:",
    member: "The above exception is a member of the following exception group:",
  };
  var state = {
    view: null, // "home" or "issue"
    events: [], // newest last
    lastEventId: 0,
    names: {},
    issue: null, // {fingerprint, eventId, shownEventId}
    refreshing: false,
    again: false,
    pollTimer: null,
  };

  // --- building the DOM from data, as text -------------------------------------------

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = String(value);
        else if (name === "open") node.open = true;
        else node.setAttribute(name, String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }

  function add(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { add(node, c); });
    else if (typeof child === "object" && child.nodeType) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function svg(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    return node;
  }

  function when(stamp) {
    if (typeof stamp !== "string" || !stamp) return el("span", { text: "-" });
    var date = new Date(stamp);
    var shown = isNaN(date.getTime()) ? stamp : date.toLocaleString();
    return el("time", { datetime: stamp, title: stamp, text: shown });
  }

  function issueHref(fingerprint, eventId) {
    var href = "#/issue/" + encodeURIComponent(fingerprint);
    return eventId ? href + "/" + encodeURIComponent(String(eventId)) : href;
  }

  function levelBadge(level) {
    if (!level) return null;
    var known = ["fatal", "error", "warning"].indexOf(level) >= 0 ? level : "";
    return el("span", { class: "badge level " + known, text: level });
  }

  function handledBadge(handled) {
    if (handled === true) return el("span", { class: "badge handled", text: "handled" });
    if (handled === false) return el("span", { class: "badge unhandled", text: "unhandled" });
    return el("span", { class: "badge", text: "handled: unknown" });
  }

  function sparkline(counts) {
    var width = 120, height = 26, n = counts.length || 1, gap = 1;
    var most = Math.max.apply(null, counts.concat([1]));
    var chart = svg("svg", { class: "spark", width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" });
    var label = svg("title");
    label.textContent = "occurrences over time: " + counts.join(", ");
    chart.appendChild(label);
    counts.forEach(function (count, i) {
      var barHeight = count ? Math.max(2, Math.round((count / most) * (height - 2))) : 1;
      var barWidth = width / n - gap;
      chart.appendChild(svg("rect", {
        class: count ? "bar" : "bar zero",
        x: (i * width) / n, y: height - barHeight, width: barWidth, height: barHeight,
      }));
    });
    return chart;
  }

  // --- talking to the API ------------------------------------------------------------

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
        return body;
      });
    });
  }

  function route() {
    var path = location.hash.indexOf("#/") === 0 ? location.hash.slice(1) : location.pathname;
    var match = /^\/issue\/([^/]+)(?:\/(\d+))?\/?$/.exec(path);
    if (match) {
      var fingerprint;
      try { fingerprint = decodeURIComponent(match[1]); } catch (e) { fingerprint = match[1]; }
      return { view: "issue", fingerprint: fingerprint, eventId: match[2] ? Number(match[2]) : null };
    }
    return { view: "home" };
  }

  function show() {
    var where = route();
    state.view = where.view;
    window.scrollTo(0, 0);
    if (where.view === "issue") {
      state.issue = { fingerprint: where.fingerprint, eventId: where.eventId, shownEventId: null };
      showIssue();
    } else {
      state.issue = null;
      showHome();
    }
  }

  function refresh() {
    if (state.refreshing) { state.again = true; return; }
    state.refreshing = true;
    var work = state.view === "issue" ? refreshIssue() : refreshHome();
    work.catch(function () {}).then(function () {
      state.refreshing = false;
      if (state.again) { state.again = false; refresh(); }
    });
  }

  // --- the home view: issues and live events -----------------------------------------

  function showHome() {
    clear(app);
    var filter = el("input", { id: "event-filter", type: "search", placeholder: "filter events by name or text", "aria-label": "filter events" });
    var names = el("select", { id: "event-name", "aria-label": "event name" }, el("option", { value: "", text: "every event" }));
    filter.addEventListener("input", renderEvents);
    names.addEventListener("change", renderEvents);
    add(app, [
      el("h2", { text: "Issues" }),
      el("div", { id: "issues", class: "panel" }, el("div", { class: "empty", text: "loading\u2026" })),
      el("h2", { text: "Live events" }),
      el("div", { class: "toolbar" }, filter, names),
      el("div", { id: "events", class: "panel" }, el("div", { class: "empty", text: "loading\u2026" })),
    ]);
    state.events = [];
    state.lastEventId = 0;
    state.names = {};
    refreshHome();
  }

  function refreshHome() {
    var issues = getJSON("/api/issues").then(renderIssues);
    var events = getJSON("/api/events?limit=" + MAX_EVENTS + "&after=" + state.lastEventId).then(addEvents);
    return Promise.all([issues, events]).catch(function (error) {
      var box = document.getElementById("issues");
      if (box) { clear(box); add(box, el("div", { class: "error-box", text: "cannot load: " + error.message })); }
    });
  }

  function renderIssues(body) {
    var box = document.getElementById("issues");
    if (!box || state.view !== "home") return;
    clear(box);
    var issues = body.issues || [];
    if (!issues.length) {
      add(box, el("div", { class: "empty", text: "No exceptions yet. Point a client at this inbox and raise one." }));
      return;
    }
    var rows = issues.map(function (issue) {
      return el("tr", { class: "issue", "data-fingerprint": issue.fingerprint },
        el("td", null,
          el("a", { class: "issue-title", href: issueHref(issue.fingerprint) },
            el("span", { class: "exc-type", text: issue.type }),
            issue.value ? [": ", el("span", { class: "issue-value", text: issue.value })] : null),
          el("div", { class: "sub mono", text: issue.crash_site }),
          el("div", { class: "sub mono fingerprint", text: issue.fingerprint })),
        el("td", null, levelBadge(issue.level), " ", handledBadge(issue.handled)),
        el("td", { class: "num count", text: issue.count }),
        el("td", { class: "num people", text: issue.people }),
        el("td", null, when(issue.first_seen)),
        el("td", null, when(issue.last_seen)),
        el("td", null, sparkline(issue.histogram || [])));
    });
    add(box, el("table", { class: "issues" },
      el("thead", null, el("tr", null,
        el("th", { text: "Exception" }), el("th", { text: "Level" }), el("th", { class: "num", text: "Count" }),
        el("th", { class: "num", text: "People" }), el("th", { text: "First seen" }),
        el("th", { text: "Last seen" }), el("th", { text: "Occurrences" }))),
      el("tbody", null, rows)));
  }

  function addEvents(body) {
    if (state.view !== "home") return;
    var fresh = (body.events || []).filter(function (e) { return e.id > state.lastEventId; });
    fresh.forEach(function (e) { e.fresh = state.lastEventId > 0; state.lastEventId = e.id; });
    state.events = state.events.concat(fresh).slice(-MAX_EVENTS);
    var names = document.getElementById("event-name");
    fresh.forEach(function (e) {
      if (names && e.event && !state.names[e.event]) {
        state.names[e.event] = true;
        add(names, el("option", { value: e.event, text: e.event }));
      }
    });
    renderEvents();
  }

  function renderEvents() {
    var box = document.getElementById("events");
    if (!box) return;
    var text = (document.getElementById("event-filter") || {}).value || "";
    var name = (document.getElementById("event-name") || {}).value || "";
    var needle = text.toLowerCase();
    var shown = state.events.filter(function (e) {
      if (name && e.event !== name) return false;
      if (!needle) return true;
      return [e.event, e.distinct_id, e.summary, e.uuid].join(" ").toLowerCase().indexOf(needle) >= 0;
    });
    clear(box);
    if (!shown.length) {
      add(box, el("div", { class: "empty", text: state.events.length ? "No event matches the filter." : "No events yet." }));
      return;
    }
    var rows = [];
    shown.slice().reverse().forEach(function (e) {
      var what = e.fingerprint
        ? el("a", { href: issueHref(e.fingerprint, e.id), text: e.summary })
        : el("span", { text: e.summary });
      var row = el("tr", { class: "event-row" + (e.fresh ? " fresh" : ""), "data-event-id": e.id },
        el("td", null, when(e.received_at)),
        el("td", { class: "mono event-name", text: e.event }),
        el("td", { class: "mono", text: e.distinct_id }),
        el("td", null, what));
      row.addEventListener("click", function (click) {
        if (click.target.closest("a")) return;
        toggleRaw(row, e.id);
      });
      rows.push(row);
    });
    add(box, el("table", { class: "events" },
      el("thead", null, el("tr", null, el("th", { text: "Received" }), el("th", { text: "Event" }),
        el("th", { text: "Distinct id" }), el("th", { text: "Summary" }))),
      el("tbody", null, rows)));
    state.events.forEach(function (ev) { ev.fresh = false; });
  }

  function toggleRaw(row, id) {
    var next = row.nextSibling;
    if (next && next.classList && next.classList.contains("raw-row")) { next.parentNode.removeChild(next); return; }
    var pre = el("pre", { class: "raw", text: "loading\u2026" });
    row.parentNode.insertBefore(el("tr", { class: "raw-row" }, el("td", { class: "raw", colspan: 4 }, pre)), row.nextSibling);
    getJSON("/api/events/" + encodeURIComponent(String(id))).then(function (body) {
      pre.textContent = body.event.raw || "";
    }).catch(function (error) { pre.textContent = "cannot load: " + error.message; });
  }

  // --- one issue -----------------------------------------------------------------------

  function showIssue() {
    clear(app);
    add(app, [
      el("a", { class: "back", href: "#/", text: "\u2190 all issues" }),
      el("div", { id: "issue-head" }, el("div", { class: "empty", text: "loading\u2026" })),
      el("div", { id: "issue-event" }),
    ]);
    return refreshIssue();
  }

  function refreshIssue() {
    var wanted = state.issue;
    if (!wanted) return Promise.resolve();
    var url = "/api/issues/" + encodeURIComponent(wanted.fingerprint);
    if (wanted.eventId) url += "?event=" + wanted.eventId;
    return getJSON(url).then(function (body) {
      if (state.issue !== wanted) return;
      renderIssueHead(body, wanted);
      if (body.event && body.event.id !== wanted.shownEventId) {
        wanted.shownEventId = body.event.id;
        renderEvent(body.event);
      }
    }).catch(function (error) {
      var head = document.getElementById("issue-head");
      if (head && state.issue === wanted) {
        clear(head);
        add(head, el("div", { class: "error-box", text: "cannot show this issue: " + error.message }));
      }
    });
  }

  function renderIssueHead(body, wanted) {
    var head = document.getElementById("issue-head");
    if (!head) return;
    var issue = body.issue;
    var shownId = body.event ? body.event.id : null;
    clear(head);
    var picks = (body.occurrences || []).map(function (o, i) {
      var label = (i === 0 ? "latest \u00b7 " : "") + new Date(o.received_at).toLocaleTimeString() + " \u00b7 " + o.distinct_id;
      return el("a", { href: issueHref(issue.fingerprint, o.id), class: o.id === shownId ? "selected" : null, "data-event-id": o.id, text: label });
    });
    add(head, [
      el("h1", null, el("span", { class: "exc-type", text: issue.type }), issue.value ? [": ", el("span", { class: "exc-value", text: issue.value })] : null),
      el("div", null, levelBadge(issue.level), " ", handledBadge(issue.handled)),
      el("dl", { class: "facts panel" },
        el("dt", { text: "occurrences" }), el("dd", { class: "count", text: issue.count }),
        el("dt", { text: "people" }), el("dd", { class: "people", text: issue.people }),
        el("dt", { text: "first seen" }), el("dd", null, when(issue.first_seen)),
        el("dt", { text: "last seen" }), el("dd", null, when(issue.last_seen)),
        el("dt", { text: "crash site" }), el("dd", { class: "mono", text: issue.crash_site }),
        el("dt", { text: "fingerprint" }), el("dd", { class: "mono fingerprint", text: issue.fingerprint }),
        el("dt", { text: "activity" }), el("dd", null, sparkline(issue.histogram || []))),
      el("h2", { text: "Occurrences (newest first)" }),
      el("div", { class: "occurrences panel" }, picks),
    ]);
    if (wanted.eventId && shownId !== wanted.eventId) {
      add(head, el("div", { class: "error-box", text: "that occurrence is not in this issue; showing the latest" }));
    }
  }

  function keyValues(pairs, emptyText) {
    if (!pairs || !pairs.length) return el("div", { class: "empty", text: emptyText });
    return el("table", { class: "kv" }, el("tbody", null, pairs.map(function (pair) {
      return el("tr", null, el("td", { text: pair[0] }), el("td", { text: pair[1] === null ? "null" : pair[1] }));
    })));
  }

  function renderEvent(event) {
    var box = document.getElementById("issue-event");
    if (!box) return;
    clear(box);
    var who = [["distinct id", event.distinct_id + (event.anonymous ? " (anonymous)" : "")]];
    if (event.session_id !== null) who.push(["session id", event.session_id]);
    if (event.window_id !== null) who.push(["window id", event.window_id]);
    (event.person_updates || []).forEach(function (pair) { who.push(pair); });
    who.push(["event uuid", event.uuid === null ? "-" : event.uuid]);
    who.push(["timestamp", event.timestamp === null ? "-" : event.timestamp]);
    who.push(["received at", event.received_at]);
    if (event.source !== null) who.push(["source", event.source]);
    add(box, [
      el("h2", { text: "Exception" }),
      el("div", { id: "exceptions" }, event.exceptions ? renderTree(event.exceptions) : el("div", { class: "empty", text: "This event has no $exception_list." })),
      el("h2", { text: "Request" }),
      el("div", { id: "request", class: "panel" }, keyValues(event.request, "No request properties.")),
      el("h2", { text: "Person and session" }),
      el("div", { id: "person", class: "panel" }, keyValues(who, "")),
      el("h2", { text: "Tags" }),
      el("div", { id: "tags", class: "panel" }, keyValues(event.tags, "No tags.")),
      el("h2", { text: "Context" }),
      el("div", { id: "context", class: "panel" }, keyValues(event.context, "No other properties.")),
      el("h2", { text: "Raw event" }),
      el("details", { id: "raw-event", class: "panel" }, el("summary", { text: "the event as the inbox received it (JSON)" }), el("pre", { class: "raw", text: event.raw || "" })),
    ]);
  }

  function renderTree(tree) {
    var box = el("div", { class: "chain" });
    (tree.chain || []).forEach(function (item) {
      add(box, renderException(item.exception));
      if (item.members && item.members.length) {
        var members = el("div", { class: "members" });
        item.members.forEach(function (member, i) {
          add(members, [el("div", { class: "member-title", text: "member " + (i + 1) + " of " + item.exception.type }), renderTree(member)]);
        });
        if (item.members_not_shown) add(members, el("div", { class: "empty", text: "and " + item.members_not_shown + " more, nested too deep to show" }));
        add(box, members);
      }
      if (item.link) add(box, el("div", { class: "link-text", text: LINKS[item.link] || LINKS.context }));
    });
    return box;
  }

  function renderException(exception) {
    var mech = exception.mechanism || {};
    var name = exception.module && exception.module !== "__main__" && exception.module !== "builtins"
      ? exception.module + "." + exception.type : exception.type;
    var frames = exception.frames || [];
    return el("div", { class: "exception" },
      el("div", { class: "exc-head" },
        el("span", { class: "exc-type", text: name }),
        exception.value ? [": ", el("span", { class: "exc-value", text: exception.value })] : null,
        mech.type ? el("span", { class: "tag", text: mech.type }) : null,
        mech.handled === true || mech.handled === false ? el("span", { class: "tag", text: mech.handled ? "handled" : "unhandled" }) : null),
      frames.length ? el("div", { class: "sub", text: "Traceback (most recent call last):" }) : null,
      exception.frames_not_shown ? el("div", { class: "sub", text: exception.frames_not_shown + " older frames not shown" }) : null,
      frames.map(renderFrame));
  }

  function renderFrame(frame) {
    var summary = el("summary", null,
      el("span", { class: "fn", text: frame.function === null ? "?" : frame.function }),
      el("span", { class: "where", text: " in " }),
      el("span", { class: "file mono", text: frame.filename === null ? "?" : frame.filename }),
      frame.lineno !== null ? el("span", { class: "where", text: " line " + frame.lineno }) : null,
      frame.in_app ? null : el("span", { class: "tag", text: "library" }));
    var source = null;
    if (frame.lines && frame.lines.length) {
      source = el("div", { class: "source" }, frame.lines.map(function (line) {
        return el("div", { class: "line" + (line.current ? " current context-line" : "") },
          el("span", { class: "no", text: line.no === null ? "" : line.no }),
          el("code", { text: line.text }));
      }));
    }
    var variables = null;
    if (frame.variables && frame.variables.length) {
      variables = el("table", { class: "vars" }, el("tbody", null, frame.variables.map(function (pair) {
        return el("tr", null, el("td", { text: pair[0] }), el("td", { text: pair[1] === null ? "None" : pair[1] }));
      })));
    }
    return el("details", {
      class: "frame " + (frame.in_app ? "in-app" : "library"),
      open: frame.in_app,
      title: frame.abs_path || null,
    }, summary, source || el("div", { class: "empty", text: "no source lines" }), variables);
  }

  // --- live updates --------------------------------------------------------------------

  function setLive(on, text) {
    live.className = "live " + (on ? "on" : "off");
    live.textContent = text;
  }

  function startPolling() {
    if (state.pollTimer === null) state.pollTimer = setInterval(refresh, 2000);
  }

  function stopPolling() {
    if (state.pollTimer !== null) { clearInterval(state.pollTimer); state.pollTimer = null; }
  }

  function connect() {
    if (typeof EventSource === "undefined") { setLive(true, "live (polling)"); startPolling(); return; }
    var source = new EventSource("/api/stream");
    source.addEventListener("open", function () { setLive(true, "live"); stopPolling(); refresh(); });
    source.addEventListener("commit", refresh);
    source.addEventListener("error", function () { setLive(false, "reconnecting\u2026"); startPolling(); });
  }

  window.addEventListener("hashchange", show);
  show();
  connect();
})();
