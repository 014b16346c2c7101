/* soap-bridge migration console: fills the page from its JSON endpoints every few seconds.
   Served from the bridge itself (no CDN, no inline script: the page's CSP forbids both).
   Every value is put in with textContent, never as HTML. */
"use strict";

(function () {
  var POLL_MS = 2000;
  var EVERYONE = "everyone else";
  var meta = function (name) {
    var tag = document.querySelector('meta[name="' + name + '"]');
    return tag ? tag.getAttribute("content") : "";
  };
  var csrf = meta("csrf-token");
  var page = meta("page");
  var operation = meta("operation");
  var updates = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key === "class") { node.className = attrs[key]; }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function fill(tbody, rows) {
    clear(tbody);
    rows.forEach(function (cells) {
      tbody.appendChild(el("tr", {}, cells.map(function (cell) {
        return cell instanceof Node ? el("td", {}, [cell]) : el("td", {text: cell === null || cell === undefined ? "-" : String(cell)});
      })));
    });
  }

  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/console/login"); throw new Error("logged out"); }
        if (!response.ok) {
          /* The bridge's reason (a store outage, say), not just a status. */
          return response.json().catch(function () { return {}; }).then(function (data) {
            throw new Error(data.error_description || ("HTTP " + response.status));
          });
        }
        return response.json();
      });
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error_description || ("HTTP " + response.status)); }
        return data;
      });
    });
  }

  function status(text, failed) {
    var node = document.getElementById("status");
    if (node) { node.textContent = text; node.className = failed ? "meta problem" : "meta"; }
  }

  function ms(value) { return value === null || value === undefined ? "-" : value.toFixed(1) + " ms"; }
  /* Rounded down, as the report rounds: 99.86% must not read as the 99.9% that means ready. */
  function pct(value) { return value === null || value === undefined ? "-" : (Math.floor(value * 10) / 10).toFixed(1) + "%"; }

  /* -- the index ------------------------------------------------------------------ */

  function renderIndex(data) {
    fill(document.querySelector("#operations tbody"), data.operations.map(function (row) {
      return [el("a", {href: "/console/operations/" + encodeURIComponent(row.operation), text: row.operation}),
              row.modes.join(", "), row.compared, pct(row.agreement), row.verdict];
    }));
  }

  /* -- an operation ----------------------------------------------------------------- */

  function tile(label, value, id) {
    return el("div", {class: "tile", id: id}, [el("span", {class: "label", text: label}),
                                                el("span", {class: "value", text: String(value)})]);
  }

  function renderFigures(data) {
    var verdict = document.getElementById("verdict");
    verdict.textContent = data.verdict;
    verdict.className = "verdict" + (data.ready ? " ready" : "");
    var figures = document.getElementById("figures");
    clear(figures);
    [["compared", data.compared, "tile-compared"],
     ["agreement", pct(data.agreement), "tile-agreement"],
     ["legacy p50 / p95", ms(data.latency.legacy.p50) + " / " + ms(data.latency.legacy.p95), "tile-legacy"],
     ["REST p50 / p95", ms(data.latency.rest.p50) + " / " + ms(data.latency.rest.p95), "tile-rest"],
     ["dropped", data.dropped, "tile-dropped"],
     ["fallbacks", data.fallbacks, "tile-fallbacks"]].forEach(function (item) {
      figures.appendChild(tile(item[0], item[1], item[2]));
    });
    fill(document.querySelector("#modes tbody"), data.modes.map(function (row) {
      var actions = el("span", {class: "actions"});
      ["promote", "demote"].concat(row.overridden ? ["reset"] : []).forEach(function (action) {
        var button = el("button", {type: "button", "data-action": action, "data-cohort": row.cohort || "", text: action});
        button.addEventListener("click", function () { changeMode(action, row.cohort); });
        actions.appendChild(button);
      });
      return [row.cohort || "(operation)", row.who, row.configured,
              el("strong", {class: row.overridden ? "mode overridden" : "mode", "data-cohort": row.cohort || "",
                            text: row.mode + (row.overridden ? " (" + row.by + ", since " + row.since + (row.hold ? "; promotion on hold" : "") + ")" : "")}),
              actions];
    }));
    var errors = [];
    ["legacy", "rest"].forEach(function (side) {
      Object.keys(data.errors[side]).forEach(function (text) { errors.push([side, text, data.errors[side][text]]); });
    });
    fill(document.querySelector("#errors tbody"), errors.length ? errors : [["-", "none", 0]]);
    renderPaths(document.getElementById("differences"), data.differences, false, data.differences_left_off);
    renderPaths(document.getElementById("noise"), data.noise, true, data.noise_left_off);
    fill(document.querySelector("#audit tbody"), data.audit.map(function (entry) {
      var details = Object.keys(entry).filter(function (key) {
        return ["ts", "action", "operation", "by"].indexOf(key) < 0;
      }).map(function (key) { return key + "=" + JSON.stringify(entry[key]); }).join(" ");
      return [new Date(entry.ts * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"), entry.action, entry.by, details];
    }));
    drawChart(document.getElementById("agreement-chart"), data.series, [
      {name: "agreement", color: "#1f6feb", value: function (b) { return b.compared ? 100 * b.agreed / b.compared : null; }}
    ], function (v) { return v.toFixed(0) + "%"; }, true);
    drawChart(document.getElementById("latency-chart"), data.series, [
      {name: "legacy", color: "#8250df", value: function (b) { return b.legacy_p50; }},
      {name: "rest", color: "#d97706", value: function (b) { return b.rest_p50; }}
    ], function (v) { return v.toFixed(0) + " ms"; }, false);
  }

  function renderPaths(container, paths, noise, leftOff) {
    clear(container);
    if (!paths.length) {
      container.appendChild(el("p", {class: "meta", text: noise ? "No noise paths." : "No differences in this period."}));
      return;
    }
    if (leftOff) {
      container.appendChild(el("p", {class: "meta left-off", text: "The " + paths.length + " commonest paths are shown; " +
        leftOff + " more path" + (leftOff === 1 ? "" : "s") + " left off."}));
    }
    paths.forEach(function (path) {
      var head = el("div", {class: "path-head"}, [
        el("code", {class: "path", text: path.path}),
        el("span", {class: "meta", text: path.count + " comparison" + (path.count === 1 ? "" : "s") +
          " (" + path.share.toFixed(1) + "%)" + (path.first ? ", since " + path.first + ", last " + path.last : "") +
          (noise ? ", " + path.source : "") + (path.mark ? ", marked " + path.mark : "")})
      ]);
      /* No cohort is the operation's own mode: "everyone else", as the mode table says. */
      var cohorts = Object.keys(path.cohorts).map(function (name) { return (name === "-" ? EVERYONE : name) + ": " + path.cohorts[name]; }).join(", ");
      var buttons = el("span", {class: "actions"});
      (noise ? [["real", "real"]].concat(path.source === "operator" ? [["clear", null]] : []) : [["noise", "noise"], ["real", "real"]])
        .forEach(function (choice) {
          var button = el("button", {type: "button", class: "mark", "data-mark": choice[0], text: "mark " + choice[0]});
          if (choice[0] === "clear") { button.textContent = "clear mark"; }
          button.addEventListener("click", function () { mark(path.path, choice[1]); });
          buttons.appendChild(button);
        });
      var samples = el("table", {class: "samples"}, [
        el("thead", {}, [el("tr", {}, ["when", "cohort", "user (keyed)", "at", "legacy", "REST"].map(function (h) { return el("th", {text: h}); }))]),
        el("tbody")
      ]);
      fill(samples.querySelector("tbody"), path.samples.map(function (s) {
        return [s.ts, s.cohort || EVERYONE, s.user, el("code", {text: s.path}),
                el("span", {class: "value legacy", text: shownValue(s.legacy, s.item)}),
                el("span", {class: "value rest", text: shownValue(s.rest, s.item)})];
      }));
      container.appendChild(el("details", {class: "difference", "data-path": path.path, open: "open"}, [
        el("summary", {}, [head]), el("p", {class: "meta", text: cohorts ? "cohorts: " + cohorts : ""}),
        buttons, path.samples.length ? samples : null]));
    });
  }

  function shownValue(value, item) {
    if (value === null || value === undefined) { return "(absent)"; }
    return value === "present" && item ? "present: " + item : value;
  }

  function drawChart(canvas, series, lines, label, percent) {
    var ctx = canvas.getContext("2d");
    var w = canvas.width, h = canvas.height, left = 56, right = 10, top = 10, bottom = 24;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, w, h);
    var values = [];
    lines.forEach(function (line) { series.forEach(function (b) { var v = line.value(b); if (v !== null && v !== undefined) { values.push(v); } }); });
    var low = percent ? Math.min(90, Math.floor(Math.min.apply(null, values.concat([100])) / 10) * 10) : 0;
    var high = percent ? 100 : Math.max(1, Math.max.apply(null, values.concat([0])) * 1.1);
    var x = function (i) { return left + (series.length > 1 ? (w - left - right) * i / (series.length - 1) : (w - left - right) / 2); };
    var y = function (v) { return top + (h - top - bottom) * (1 - (v - low) / (high - low)); };
    ctx.strokeStyle = "#e3e6ec"; ctx.fillStyle = "#5b6473"; ctx.font = "11px sans-serif"; ctx.lineWidth = 1;
    [low, (low + high) / 2, high].forEach(function (v) {
      ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(w - right, y(v)); ctx.stroke();
      ctx.fillText(label(v), 4, y(v) + 4);
    });
    if (!values.length) { ctx.fillText("no data yet", w / 2 - 30, h / 2); return; }
    if (series.length) {
      ctx.fillText(new Date(series[0].start * 1000).toISOString().substr(11, 8), left, h - 6);
      ctx.fillText(new Date(series[series.length - 1].start * 1000).toISOString().substr(11, 8), w - right - 52, h - 6);
    }
    lines.forEach(function (line) {
      ctx.strokeStyle = line.color; ctx.fillStyle = line.color; ctx.lineWidth = 3;
      var drawing = false;
      ctx.beginPath();
      series.forEach(function (b, i) {
        var v = line.value(b);
        if (v === null || v === undefined) { drawing = false; return; }
        if (drawing) { ctx.lineTo(x(i), y(v)); } else { ctx.moveTo(x(i), y(v)); drawing = true; }
      });
      ctx.stroke();
      series.forEach(function (b, i) {
        var v = line.value(b);
        if (v !== null && v !== undefined) { ctx.beginPath(); ctx.arc(x(i), y(v), 4, 0, 2 * Math.PI); ctx.fill(); }
      });
    });
  }

  function windowQuery() {
    var select = document.getElementById("window");
    return select && select.value ? "?since=" + encodeURIComponent(select.value) : "";
  }

  function mark(path, kind) {
    postJson("/console/api/operations/" + encodeURIComponent(operation) + "/marks", {path: path, mark: kind})
      .then(refresh).catch(function (error) { status("Could not mark: " + error.message, true); });
  }

  function changeMode(action, cohort) {
    postJson("/console/api/operations/" + encodeURIComponent(operation) + "/mode", {action: action, cohort: cohort})
      .then(refresh).catch(function (error) { status("Could not " + action + ": " + error.message, true); });
  }

  function refresh() {
    var url = page === "index" ? "/console/api/operations" + windowQuery()
      : "/console/api/operations/" + encodeURIComponent(operation) + windowQuery();
    return getJson(url).then(function (data) {
      if (page === "index") { renderIndex(data); } else { renderFigures(data); }
      updates += 1;
      document.body.setAttribute("data-updates", String(updates));
      status("Updated " + new Date().toLocaleTimeString() + "; refreshes every " + (POLL_MS / 1000) + " s.", false);
    }).catch(function (error) { status("Could not update: " + error.message, true); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("window");
    if (select) { select.addEventListener("change", refresh); }
    refresh();
    window.setInterval(refresh, POLL_MS);
  });
}());
