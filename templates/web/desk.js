// The desk's script. Every action also works without it, as a plain form; this file only
// adds speed: keyboard triage in the watch inbox, drag and drop in the composer, and the
// live counts of a send. Served as a file: the Content-Security-Policy allows no inline
// script.
"use strict";

(function () {
  function csrf() {
    var input = document.querySelector('input[name="csrf"]');
    return input ? input.value : "";
  }

  function post(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
  }

  // Keys typed into a field are text, not commands.
  function typing(target) {
    if (!target) return false;
    if (target.isContentEditable || /^(SELECT|TEXTAREA)$/.test(target.tagName)) return true;
    return target.tagName === "INPUT" && !/^(checkbox|radio|submit|button)$/.test(target.type);
  }

  // ---- Watch inbox: j/k move, s select, x dismiss, e edit, ? help.
  function inbox() {
    var form = document.getElementById("triage");
    var help = document.getElementById("aide-clavier");
    if (!form) return;
    var rows = Array.prototype.slice.call(form.querySelectorAll("li.row[data-item-id]"));
    var current = -1;

    function focusRow(i) {
      if (!rows.length) return;
      current = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (r) { r.classList.remove("current"); });
      rows[current].classList.add("current");
      rows[current].focus();
    }

    function act(key) {
      if (current < 0) focusRow(0);
      var row = rows[current];
      var selector = '[data-key="' + key + '"]';
      if (key === "s") {
        // The title chosen beside the keys' help, the first one otherwise.
        var chosen = document.getElementById("k-titre");
        if (chosen) selector = 'button[value^="selectionner-' + chosen.value + ':"]';
      }
      var button = row && row.querySelector(selector);
      if (!button) return;
      if (button.tagName === "A") {
        window.location.href = button.href;
        return;
      }
      var retour = form.querySelector('input[name="retour"]');
      // On to the next row at once: the editor keeps going while the answer comes.
      row.classList.add("pending");
      focusRow(current + 1);
      // getAttribute: the form's buttons named "action" shadow the form.action property.
      post(form.getAttribute("action"), { csrf: csrf(), retour: retour ? retour.value : "", ligne: button.value })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          row.classList.remove("pending");
          row.classList.add("done");
          var state = row.querySelector(".state");
          if (state) state.textContent = key === "x" ? "écarté" : "retenu";
          row.setAttribute("data-done", key === "x" ? "ecarte" : "retenu");
        })
        .catch(function () { button.click(); });
    }

    function toggleHelp(show) {
      if (!help) return;
      help.hidden = show === undefined ? !help.hidden : !show;
      if (!help.hidden) {
        help.querySelector("[data-close]").focus();
      } else if (current >= 0) {
        rows[current].focus();
      } else if (document.activeElement) {
        document.activeElement.blur();
      }
    }

    if (help) {
      help.querySelector("[data-close]").addEventListener("click", function () { toggleHelp(false); });
    }
    rows.forEach(function (row, i) {
      row.addEventListener("focusin", function () {
        current = i;
        rows.forEach(function (r) { r.classList.remove("current"); });
        row.classList.add("current");
      });
    });

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Escape" && help && !help.hidden) { toggleHelp(false); return; }
      if (typing(event.target)) return;
      switch (event.key) {
        case "j": focusRow(current + 1); break;
        case "k": focusRow(current - 1); break;
        case "s": act("s"); break;
        case "x": act("x"); break;
        case "e": act("e"); break;
        case "?": toggleHelp(); break;
        default: return;
      }
      event.preventDefault();
    });
  }

  // ---- Composer: drag an entry within or across sections.
  function composer() {
    var sections = document.querySelectorAll(".compose-section[data-section]");
    if (!sections.length) return;
    var match = window.location.pathname.match(/^\/admin\/numeros\/(\d+)/);
    if (!match) return;
    var issue = match[1];
    var dragged = null;

    document.querySelectorAll("li.entry[draggable]").forEach(function (entry) {
      entry.addEventListener("dragstart", function (event) {
        dragged = entry;
        entry.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", entry.getAttribute("data-entry-id"));
      });
      entry.addEventListener("dragend", function () { entry.classList.remove("dragging"); });
    });

    sections.forEach(function (section) {
      section.addEventListener("dragover", function (event) {
        if (dragged) { event.preventDefault(); section.classList.add("drop"); }
      });
      section.addEventListener("dragleave", function () { section.classList.remove("drop"); });
      section.addEventListener("drop", function (event) {
        event.preventDefault();
        section.classList.remove("drop");
        if (!dragged) return;
        var entries = Array.prototype.slice.call(section.querySelectorAll("li.entry"))
          .filter(function (e) { return e !== dragged; });
        var index = entries.length;
        for (var i = 0; i < entries.length; i++) {
          var box = entries[i].getBoundingClientRect();
          if (event.clientY < box.top + box.height / 2) { index = i; break; }
        }
        var id = dragged.getAttribute("data-entry-id");
        dragged = null;
        post("/admin/numeros/" + issue + "/entrees/" + id + "/deplacer", {
          csrf: csrf(),
          rubrique: section.getAttribute("data-section"),
          position: String(index),
        }).then(function () { window.location.reload(); });
      });
    });
  }

  // ---- Send progress: counts pushed by the server while the send runs.
  function progress() {
    var box = document.getElementById("suivi");
    if (!box || box.getAttribute("data-done") === "true" || !window.EventSource) return;
    var source = new EventSource(window.location.pathname.replace(/\/suivi$/, "/suivi/flux"));
    source.addEventListener("progres", function (event) {
      var data = JSON.parse(event.data);
      Object.keys(data.counts).forEach(function (k) {
        var cell = box.querySelector('[data-count="' + k + '"]');
        if (cell) cell.textContent = data.counts[k];
      });
      var bar = document.getElementById("barre");
      if (bar) { bar.max = data.total; bar.value = data.settled; bar.textContent = data.settled + " sur " + data.total; }
      var settled = box.querySelector('[data-count="settled"]');
      if (settled) settled.textContent = data.settled;
      var total = box.querySelector('[data-count="total"]');
      if (total) total.textContent = data.total;
      if (data.done) {
        source.close();
        window.location.reload();
      }
    });
  }

  inbox();
  composer();
  progress();
})();
