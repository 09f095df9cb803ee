// Paging, filtering and sorting of the findings table over the JSON data block.
// Without this script the page still shows the server-rendered rows.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("lg-data").textContent);
  var rows = data.rows, pol = data.policies, L = data.labels, SEV = data.severities;
  var form = document.getElementById("lg-filter");
  var tbody = document.getElementById("lg-rows");
  var info = document.getElementById("lg-info");
  var prev = document.getElementById("lg-prev");
  var next = document.getElementById("lg-next");
  var PAGE = 100, page = 0, view = rows, sortCol = 0, sortDir = 1, hay = null;

  function haystack(r) {
    return [r[2], r[3], r[6], r[7], r[8], pol[r[1]][0], pol[r[1]][1]].join("\n").toLowerCase();
  }
  function sortKey(r, c) {
    return c === 1 ? pol[r[1]][0] : r[c];
  }
  function apply() {
    var f = form.elements, q = f.q.value.trim().toLowerCase();
    var sev = f.sev.value, p = f.policy.value, st = f.status.value, bl = f.baseline.value;
    if (q && !hay) { hay = rows.map(haystack); }
    view = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if ((sev === "" || String(r[0]) === sev) && (p === "" || String(r[1]) === p) &&
          (st === "" || r[4] === st) && (bl === "" || r[5] === bl) &&
          (!q || hay[i].indexOf(q) !== -1)) { view.push(r); }
    }
    // Rows arrive most severe first (the server's order), so the default needs no sort.
    if (sortCol !== 0 || sortDir !== 1) {
      view.sort(function (a, b) {
        var x = sortKey(a, sortCol), y = sortKey(b, sortCol);
        if (x === y) { x = a[0] * 1e9 + a[1]; y = b[0] * 1e9 + b[1]; }
        return x < y ? -sortDir : (x > y ? sortDir : 0);
      });
    }
    page = 0;
    draw();
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    tr.appendChild(td);
  }
  function draw(count) {
    var start = page * PAGE, end = Math.min(view.length, start + (count || PAGE));
    var frag = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var r = view[i], tr = document.createElement("tr"), span = document.createElement("span");
      var td = document.createElement("td");
      span.className = "sev sev-" + SEV[r[0]];
      span.textContent = L.sev[r[0]];
      td.appendChild(span);
      tr.appendChild(td);
      cell(tr, pol[r[1]][0] + " " + pol[r[1]][1]);
      cell(tr, r[2], "mono");
      cell(tr, r[3], "msg");
      cell(tr, L.st[r[4]] || r[4]);
      cell(tr, L.st[r[5]] || r[5]);
      cell(tr, r[8], "mono");
      cell(tr, r[6], "mono");
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    var shown = view.length ? (start + 1) + "\u2013" + end : "0";
    info.textContent = L.rows_shown.replace("{shown}", shown).replace("{total}", view.length.toLocaleString());
    prev.disabled = page === 0;
    next.disabled = end >= view.length;
  }
  form.addEventListener("input", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
  prev.addEventListener("click", function () { page -= 1; draw(); });
  next.addEventListener("click", function () { page += 1; draw(); });
  Array.prototype.forEach.call(document.querySelectorAll("#lg-table th button"), function (b) {
    b.addEventListener("click", function () {
      var c = Number(b.getAttribute("data-col"));
      sortDir = c === sortCol ? -sortDir : 1;
      sortCol = c;
      apply();
    });
  });
  // Printing gives every finding of the current filter and every detail, not one page:
  // the rows are drawn in full before printing and the pager's page after it.
  var saved = null;
  window.addEventListener("beforeprint", function () {
    saved = page;
    page = 0;
    draw(view.length);
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
      if (!d.open) { d.open = true; d.setAttribute("data-lg-print", "1"); }
    });
  });
  window.addEventListener("afterprint", function () {
    if (saved === null) { return; }
    page = saved;
    saved = null;
    draw();
    Array.prototype.forEach.call(document.querySelectorAll("details[data-lg-print]"), function (d) {
      d.open = false;
      d.removeAttribute("data-lg-print");
    });
  });
  form.hidden = false;
  document.getElementById("lg-pager").hidden = false;
  var note = document.getElementById("lg-static-note");
  if (note) { note.hidden = true; }
  apply();
  document.documentElement.setAttribute("data-ready", "1");
})();
