// The preview's filters and switches. Cards themselves need no script.
(function () {
  "use strict";

  var NIGHT_KEY = "deckgen-preview-night";

  function setNight(on) {
    document.documentElement.classList.toggle("pv-night", on);
    // Anki marks the element holding the card; the deck's style sheet keys its night colours on it.
    var cards = document.querySelectorAll(".card");
    for (var i = 0; i < cards.length; i++) {
      cards[i].classList.toggle("nightMode", on);
      cards[i].classList.toggle("night_mode", on);
    }
    var boxes = document.querySelectorAll("[data-night]");
    for (var j = 0; j < boxes.length; j++) boxes[j].checked = on;
  }

  function storedNight() {
    try { return window.localStorage.getItem(NIGHT_KEY) === "1"; } catch (e) { return false; }
  }

  function storeNight(on) {
    try { window.localStorage.setItem(NIGHT_KEY, on ? "1" : "0"); } catch (e) { /* file: pages may not store */ }
  }

  function setupFilters() {
    var form = document.querySelector("[data-filters]");
    var root = document.querySelector("[data-filter-root]");
    if (!form || !root) return;
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    var items = root.querySelectorAll(".pv-item");
    var controls = form.querySelectorAll("[data-filter]");
    var count = form.querySelector("[data-count]");
    var empty = document.querySelector("[data-empty]");
    var more = document.querySelector("[data-more]");
    var limit = parseInt(root.getAttribute("data-limit") || "0", 10) || Infinity;
    var params = new URLSearchParams(window.location.search);
    // The card list searches what it shows; theme pages carry every field's words.
    var texts = [];
    for (var t = 0; t < items.length; t++) {
      var given = items[t].getAttribute("data-text");
      texts.push(given === null ? items[t].textContent.toLowerCase() : given);
    }

    for (var c = 0; c < controls.length; c++) {
      var wanted = params.get(controls[c].getAttribute("data-filter"));
      if (wanted !== null) controls[c].value = wanted;
    }

    function apply() {
      var f = {};
      for (var c = 0; c < controls.length; c++) {
        f[controls[c].getAttribute("data-filter")] = controls[c].value.trim();
      }
      var words = (f.q || "").toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      for (var i = 0; i < items.length; i++) {
        var el = items[i];
        var ok = (!f.theme || el.getAttribute("data-theme") === f.theme) &&
          (!f.type || el.getAttribute("data-type") === f.type) &&
          (!f.source || el.getAttribute("data-source") === f.source) &&
          (!f.tag || (el.getAttribute("data-tags") || "").indexOf(" " + f.tag + " ") !== -1);
        if (ok && words.length) {
          var text = texts[i];
          for (var w = 0; w < words.length && ok; w++) ok = text.indexOf(words[w]) !== -1;
        }
        if (ok) shown++;
        var hide = !ok || shown > limit;
        if (el.hidden !== hide) el.hidden = hide;
      }
      if (count) count.textContent = shown === items.length ? items.length + " shown" : shown + " of " + items.length + " shown";
      if (empty) empty.hidden = shown !== 0;
      if (more) {
        more.hidden = shown <= limit;
        more.textContent = "Showing the first " + limit + " of " + shown + ". Narrow the filters, or open a theme to see all its cards.";
      }
      var query = new URLSearchParams();
      for (var key in f) if (f[key]) query.set(key, f[key]);
      var search = query.toString();
      if (window.history && window.history.replaceState) {
        try { window.history.replaceState(null, "", (search ? "?" + search : window.location.pathname) + window.location.hash); } catch (e) { /* some file: URLs refuse */ }
      }
    }

    var pending = null;
    function soon() {
      if (items.length <= 2000) return apply();
      // Typing in a long list: wait for a pause rather than filter on every key.
      if (pending !== null) window.clearTimeout(pending);
      pending = window.setTimeout(function () { pending = null; apply(); }, 150);
    }
    for (var k = 0; k < controls.length; k++) {
      controls[k].addEventListener("input", soon);
      controls[k].addEventListener("change", apply);
    }
    apply();
  }

  function setupSides() {
    var radios = document.querySelectorAll("[data-side]");
    for (var i = 0; i < radios.length; i++) {
      radios[i].addEventListener("change", function (event) {
        document.body.setAttribute("data-side", event.target.value);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var night = storedNight();
    setNight(night);
    var boxes = document.querySelectorAll("[data-night]");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].addEventListener("change", function (event) {
        setNight(event.target.checked);
        storeNight(event.target.checked);
      });
    }
    setupFilters();
    setupSides();
  });
})();
