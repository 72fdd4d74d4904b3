// Yufu console and portal: the little JavaScript the pages need.
//
// Pages are rendered on the server and only read. A change (trip a meter,
// take a recharge, acknowledge an alarm, …) is a <form data-api="URL">:
// this script sends its fields as JSON to the API with the session's CSRF
// token (the X-CSRF-Token header the API's gate checks), asks first when
// the form has data-confirm, shows the API's error message inside the form,
// and on success goes to data-next (with {field} filled from the answer) or
// reloads. No third-party code.
(function () {
  'use strict';

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : '';
  }

  // A random key for idempotent requests, made once per page view so a
  // double submit repeats the same key. getRandomValues works on plain
  // http too (randomUUID needs a secure context).
  function randomKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function FieldError(el, message) { this.el = el; this.message = message; }

  // Yuan as typed ("12", "12.5", "12.50") to integer fen, without floats.
  function yuanToFen(el) {
    var m = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(el.value);
    if (!m) { throw new FieldError(el, el.dataset.invalid || 'Enter an amount such as 50 or 12.50'); }
    return parseInt(m[1], 10) * 100 + parseInt(((m[2] || '') + '00').slice(0, 2), 10);
  }

  function valueOf(el) {
    var t = el.dataset.type;
    if (el.type === 'checkbox') { return el.checked; }
    if (el.value === '' && el.dataset.optional !== undefined) { return undefined; }
    if (t === 'yuan') { return yuanToFen(el); }
    if (t === 'int') {
      if (!/^-?\d+$/.test(el.value.trim())) { throw new FieldError(el, el.dataset.invalid || 'Enter a whole number'); }
      return parseInt(el.value, 10);
    }
    if (t === 'json') {
      try { return JSON.parse(el.value); } catch (e) { throw new FieldError(el, el.dataset.invalid || 'Not valid JSON'); }
    }
    return el.value;
  }

  // "a.b" sets {a: {b: v}}; a number part makes an array ("checklist.0.item"
  // sets {checklist: [{item: v}]}).
  function setPath(obj, name, v) {
    var parts = name.split('.');
    for (var i = 0; i < parts.length - 1; i++) {
      obj = obj[parts[i]] = obj[parts[i]] || (/^\d+$/.test(parts[i + 1]) ? [] : {});
    }
    obj[parts[parts.length - 1]] = v;
  }

  function fill(template, data) {
    return template.replace(/\{([\w.]+)\}/g, function (_, k) {
      var v = k.split('.').reduce(function (o, p) { return o == null ? o : o[p]; }, data);
      return encodeURIComponent(v == null ? '' : v);
    });
  }

  function showError(form, message, el) {
    var box = form.querySelector('[data-error]');
    form.querySelectorAll('[aria-invalid]').forEach(function (x) { x.removeAttribute('aria-invalid'); });
    if (el) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
    if (box) { box.textContent = message; box.hidden = false; } else { alert(message); }
  }

  async function submit(form, ev) {
    ev.preventDefault();
    if (form.dataset.busy) { return; }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { return; }
    var box = form.querySelector('[data-error]');
    if (box) { box.hidden = true; box.textContent = ''; }
    var body = {};
    var pathValues = {};
    // data-header="Name": the field goes as that request header (e.g. a
    // recharge's Idempotency-Key), not in the body.
    var extraHeaders = {};
    try {
      form.querySelectorAll('[name]').forEach(function (el) {
        if (el.disabled || (el.type === 'radio' && !el.checked)) { return; }
        var v = valueOf(el);
        if (v === undefined) { return; }
        pathValues[el.name] = v;
        if (el.dataset.header) { extraHeaders[el.dataset.header] = String(v); return; }
        if (el.dataset.in !== 'path') { setPath(body, el.name, v); }
      });
    } catch (e) {
      if (e instanceof FieldError) { showError(form, e.message, e.el); return; }
      throw e;
    }
    var url = fill(form.dataset.api, pathValues);
    var method = (form.dataset.method || 'POST').toUpperCase();
    var headers = Object.assign({}, extraHeaders, { 'X-CSRF-Token': csrf(), 'Accept': 'application/json' });
    var payload;
    if (form.dataset.raw) {
      // The whole body is one field's text (e.g. a tariff file), or the
      // bytes of the file chosen in it (e.g. a CSV of serial numbers).
      var raw = form.querySelector('[name="' + form.dataset.raw + '"]');
      if (raw.type === 'file') {
        if (!raw.files || !raw.files.length) { showError(form, raw.dataset.invalid || 'Choose a file', raw); return; }
        payload = raw.files[0];
      } else {
        payload = raw.value;
      }
      headers['Content-Type'] = form.dataset.contentType || 'text/plain';
    } else if (method !== 'GET' && method !== 'DELETE') {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    form.dataset.busy = '1';
    form.classList.add('busy');
    try {
      var r = await fetch(url, { method: method, headers: headers, body: payload, credentials: 'same-origin' });
      var text = await r.text();
      var answer = {};
      try { answer = text ? JSON.parse(text) : {}; } catch (e) { answer = { message: text }; }
      var result = form.dataset.result && document.getElementById(form.dataset.result);
      if (result && (r.ok || (form.dataset.resultOnError && answer[form.dataset.resultOnError] !== undefined))) {
        // The answer is shown in the page (an import report, a
        // calculation): no reload, and a refused one keeps its details.
        render(result, answer);
        if (!r.ok && answer.message) { showError(form, answer.message); }
        if (!r.ok || !form.dataset.next) { return; }
      }
      if (!r.ok) {
        if (r.status === 401 && form.dataset.signin !== 'true') {
          location.href = (document.body.dataset.login || '/login') + '?next=' + encodeURIComponent(location.pathname + location.search);
          return;
        }
        var msg = answer.message || (r.status + ' ' + r.statusText);
        if (answer.errors && answer.errors.length) {
          msg += '\n' + answer.errors.map(function (e) { return typeof e === 'string' ? e : (e.message || JSON.stringify(e)); }).join('\n');
        }
        showError(form, msg);
        return;
      }
      var done = form.querySelector('[data-done]');
      if (done) { done.hidden = false; }
      if (form.dataset.next) {
        var next = fill(form.dataset.next, Object.assign({}, pathValues, answer));
        if (form.dataset.nextParam) {
          var q = new URLSearchParams(location.search).get(form.dataset.nextParam);
          if (q && q.charAt(0) === '/' && q.charAt(1) !== '/') { next = q; }
        }
        var target = new URL(next, location.href);
        if (target.pathname === location.pathname && target.search === location.search) {
          // Only the #fragment differs: the browser would merely scroll.
          location.hash = target.hash;
          location.reload();
        } else {
          location.href = target.href;
        }
      } else {
        location.reload();
      }
    } catch (e) {
      showError(form, String(e));
    } finally {
      delete form.dataset.busy;
      form.classList.remove('busy');
    }
  }

  // An API answer shown in the page (data-result="ID" on the form):
  // inside the element, [data-k="path"] shows that value of the answer
  // (data-format="yuan" for fen, "bool" with data-yes/data-no; with
  // data-href="/x/{key}" a link, hidden when the key is empty);
  // [data-list="key"] repeats its <template> once per item of that array
  // and hides when it is empty; [data-if="key"] shows only when the value
  // is set (a non-empty array), [data-unless="key"] only when not.
  function pick(data, path) {
    return path.split('.').reduce(function (o, p) { return o == null ? o : o[p]; }, data);
  }

  function present(v) {
    return Array.isArray(v) ? v.length > 0 : (v != null && v !== false && v !== '');
  }

  // Integer fen as yuan the way the pages print it: "-1,340.05".
  function fenToYuan(v) {
    var n = Math.abs(v);
    var fen = String(n % 100);
    var yuan = String(Math.floor(n / 100)).replace(/\B(?=(\d{3})+$)/g, ',');
    return (v < 0 ? '-' : '') + yuan + '.' + (fen.length < 2 ? '0' + fen : fen);
  }

  function show(el, v) {
    var f = el.dataset.format;
    if (el.dataset.href) {
      var missing = false;
      var target = el.dataset.href.replace(/\{([\w.]+)\}/g, function (_, k) {
        var x = pick(el.__item, k);
        if (x == null || x === '') { missing = true; return ''; }
        return encodeURIComponent(x);
      });
      el.hidden = missing;
      if (!missing) { el.href = target; }
    }
    if (v == null || v === '') { el.textContent = '—'; return; }
    if (f === 'yuan' && typeof v === 'number') { el.textContent = fenToYuan(v); return; }
    if (f === 'bool') { el.textContent = v ? (el.dataset.yes || 'yes') : (el.dataset.no || 'no'); return; }
    el.textContent = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  function fillIn(root, data, skipLists) {
    root.querySelectorAll('[data-k]').forEach(function (el) {
      if (skipLists && el.closest('[data-list]')) { return; }
      el.__item = data;
      show(el, pick(data, el.dataset.k));
    });
  }

  function render(box, data) {
    box.querySelectorAll('[data-list]').forEach(function (list) {
      var tpl = list.querySelector('template');
      if (!tpl) { return; }
      var items = pick(data, list.dataset.list) || [];
      Array.prototype.slice.call(tpl.parentNode.children).forEach(function (row) {
        if (row !== tpl) { row.remove(); }
      });
      items.forEach(function (item) {
        var row = tpl.content.cloneNode(true);
        fillIn(row, item, false);
        tpl.parentNode.appendChild(row);
      });
      list.hidden = items.length === 0;
    });
    fillIn(box, data, true);
    box.querySelectorAll('[data-if]').forEach(function (el) { el.hidden = !present(pick(data, el.dataset.if)); });
    box.querySelectorAll('[data-unless]').forEach(function (el) { el.hidden = present(pick(data, el.dataset.unless)); });
    box.hidden = false;
  }

  // Parts of a page that follow changes (a reconnect after a recharge, a
  // command's state): data-refresh="5000" re-reads the page every 5 s and
  // swaps in the element with the same id.
  function refresher(el) {
    var every = parseInt(el.dataset.refresh, 10);
    if (!el.id || !(every >= 1000)) { return; }
    setInterval(async function () {
      if (document.hidden) { return; }
      try {
        var r = await fetch(location.href, { credentials: 'same-origin' });
        if (!r.ok) { return; }
        var doc = new DOMParser().parseFromString(await r.text(), 'text/html');
        var fresh = doc.getElementById(el.id);
        if (fresh) { el.innerHTML = fresh.innerHTML; }
      } catch (e) { /* try again next time */ }
    }, every);
  }

  // Live numbers (the dashboard): server-sent events whose data is a JSON
  // object; each [data-k="key"] inside the element shows its value.
  function live(el) {
    var source = new EventSource(el.dataset.sse);
    source.onmessage = function (m) {
      var data;
      try { data = JSON.parse(m.data); } catch (e) { return; }
      Object.keys(data).forEach(function (k) {
        el.querySelectorAll('[data-k="' + k + '"]').forEach(function (x) { x.textContent = data[k]; });
      });
      el.dataset.updated = String(Date.now());
    };
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('input[data-auto="key"]').forEach(function (el) { if (!el.value) { el.value = randomKey(); } });
    document.querySelectorAll('form[data-api]').forEach(function (f) {
      f.addEventListener('submit', function (ev) { submit(f, ev); });
    });
    document.querySelectorAll('[data-refresh]').forEach(refresher);
    document.querySelectorAll('[data-sse]').forEach(live);
    document.querySelectorAll('[data-print]').forEach(function (b) {
      b.addEventListener('click', function () { window.print(); });
    });
  });
})();
