/*
 * Parley participant chat.
 *
 * Plain browser JavaScript: no build step, no frameworks, no external
 * resources. Compatible with a strict CSP (default-src 'self'): no inline
 * handlers, no eval, and all message text is written with textContent.
 */
(function () {
  'use strict';

  var root = document.getElementById('parley-chat');
  if (!root || !window.fetch) {
    return;
  }

  // ---------------------------------------------------------------------
  // Configuration
  // ---------------------------------------------------------------------

  var MESSAGES_URL = root.getAttribute('data-messages-url') || '';
  var START_URL = root.getAttribute('data-start-url') || '';
  var STARTED = root.getAttribute('data-started') !== 'false';
  var MAX_LEN = parseInt(root.getAttribute('data-max-length'), 10) || 5000;
  var WARN_AT = Math.floor(MAX_LEN * 0.9);

  var TERMINAL = {
    completed: true,
    declined: true,
    abandoned: true,
    admin_ended: true,
    restarted: true
  };

  var ENDED_TITLE = 'This conversation has ended — thank you.';
  var ENDED_DETAIL = {
    completed: 'Your answers have been saved. You can close this page.',
    declined: 'You chose not to take part. You can close this page.',
    abandoned: 'This conversation was closed after a long period without activity. You can close this page.',
    admin_ended: 'This conversation was closed by the organiser. You can close this page.',
    restarted: 'This conversation was restarted. If you received a newer link, please use that one.'
  };
  var EXPIRED_TITLE = 'This link is no longer active.';
  var EXPIRED_DETAIL = 'If you still want to take part, please ask HR for a new link.';
  var RESTARTED_NOTE = 'The organiser restarted this conversation, so it begins again here.';

  var ROLE_LABEL = {
    interviewer: 'Interviewer',
    participant: 'You',
    system: 'Notice'
  };

  var POST_RETRIES = 3;             // retries after the first attempt
  var POST_TIMEOUT_MS = 20000;
  var GET_TIMEOUT_MS = 15000;
  var POLL_WAITING_MS = 1000;       // while a reply is expected
  var POLL_WAITING_SLOW_MS = 2500;  // reply is taking a while
  var POLL_IDLE_MIN_MS = 1000;
  var POLL_IDLE_MAX_MS = 5000;      // idle back-off ceiling
  var POLL_HIDDEN_MS = 15000;       // tab in background
  var POLL_ERROR_MAX_MS = 30000;
  var POLL_ENDED_MS = 15000;        // after the end: only a restart can bring news
  var WAIT_SLOW_AFTER_MS = 60000;
  var WAIT_GIVE_UP_MS = 180000;     // stop showing the typing indicator

  var reduceMotion = window.matchMedia
    ? window.matchMedia('(prefers-reduced-motion: reduce)')
    : { matches: false };

  // ---------------------------------------------------------------------
  // Elements
  // ---------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  var els = {
    log: $('chat-log'),
    typing: $('chat-typing'),
    ended: $('chat-ended'),
    connection: $('chat-connection'),
    error: $('chat-error'),
    form: $('chat-form'),
    input: $('chat-input'),
    send: $('chat-send'),
    counter: $('chat-counter'),
    counterSr: $('chat-counter-sr'),
    start: $('chat-start'),
    startButton: $('chat-start-button')
  };
  var PLACEHOLDER = els.input.getAttribute('placeholder') || '';

  // ---------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------

  var state = {
    lastSeq: 0,
    status: null,
    interview: null,             // the interview the log shows (a restart opens a new one)
    terminal: false,             // the conversation has ended (a restart can reopen it)
    stopped: false,              // the link is gone: nothing more to fetch
    awaitingStart: false,        // the Start button is showing; nothing to poll yet
    loaded: false,
    seen: Object.create(null),   // seq -> true
    lastServer: null,            // { seq, role, choices, el }
    pending: [],                 // optimistic participant messages
    sending: false,              // a POST (incl. retries) is in flight
    waitingSince: 0,             // >0 while a reply is expected
    idleDelay: POLL_IDLE_MIN_MS,
    errorDelay: 0,
    errorCount: 0,
    pollTimer: null,
    polling: false,
    pollAgain: false,
    counterLevel: 0
  };

  // ---------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------

  function uuid() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === 'function') {
      try { return c.randomUUID(); } catch (e) { /* insecure context */ }
    }
    var b = new Array(16);
    var i;
    if (c && typeof c.getRandomValues === 'function') {
      var arr = new Uint8Array(16);
      c.getRandomValues(arr);
      for (i = 0; i < 16; i++) { b[i] = arr[i]; }
    } else {
      for (i = 0; i < 16; i++) { b[i] = Math.floor(Math.random() * 256); }
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = b.map(function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' +
      h.slice(16, 20) + '-' + h.slice(20);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // Count Unicode code points (what the server's len() will see), not UTF-16 units.
  function charCount(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) {
      var code = s.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < s.length) {
        var next = s.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) { i++; }
      }
      n++;
    }
    return n;
  }

  function fmt(n) {
    try { return n.toLocaleString(); } catch (e) { return String(n); }
  }

  function normalize(s) {
    s = String(s == null ? '' : s);
    if (s.normalize) { s = s.normalize('NFC'); }
    return s.replace(/\s+/g, ' ').trim().toLowerCase();
  }

  function fetchWithTimeout(url, opts, ms) {
    if (typeof AbortController === 'undefined') {
      return fetch(url, opts);
    }
    var ctrl = new AbortController();
    var timer = setTimeout(function () { ctrl.abort(); }, ms);
    opts.signal = ctrl.signal;
    return fetch(url, opts).then(function (res) {
      clearTimeout(timer);
      return res;
    }, function (err) {
      clearTimeout(timer);
      throw err;
    });
  }

  function readJson(res) {
    var ct = (res.headers.get('content-type') || '').toLowerCase();
    if (ct.indexOf('json') === -1) {
      return Promise.resolve(null);
    }
    return res.json().catch(function () { return null; });
  }

  function errorMessage(data, status) {
    if (data && data.error && typeof data.error.message === 'string' && data.error.message.trim()) {
      return data.error.message;
    }
    if (status === 410) { return 'This link has expired or the conversation has ended.'; }
    if (status === 404) { return 'This link could not be found. Please ask HR for a new link.'; }
    if (status === 413) { return 'Your message is too long. Please shorten it and try again.'; }
    if (status === 429) { return 'You are sending messages very quickly. Please wait a moment and try again.'; }
    if (status >= 500) { return 'The server had a problem. Please try again in a moment.'; }
    return 'Your message could not be sent (error ' + status + '). Please try again.';
  }

  // ---------------------------------------------------------------------
  // Scrolling
  // ---------------------------------------------------------------------

  function isNearBottom() {
    var log = els.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 96;
  }

  function scrollToBottom(instant) {
    var log = els.log;
    var behavior = (instant || reduceMotion.matches) ? 'auto' : 'smooth';
    if (typeof log.scrollTo === 'function') {
      try {
        log.scrollTo({ top: log.scrollHeight, behavior: behavior });
        return;
      } catch (e) { /* old browsers: fall through */ }
    }
    log.scrollTop = log.scrollHeight;
  }

  // ---------------------------------------------------------------------
  // Rendering
  // ---------------------------------------------------------------------

  function normalizeRole(role) {
    return (role === 'interviewer' || role === 'participant' || role === 'system') ? role : 'system';
  }

  function cleanChoices(list) {
    if (!Array.isArray(list)) { return []; }
    var out = [];
    for (var i = 0; i < list.length; i++) {
      var c = list[i];
      if (!c || c.value == null || c.value === '') { continue; }
      var value = String(c.value);
      var label = (typeof c.label === 'string' && c.label.trim()) ? c.label : value;
      out.push({ value: value, label: label });
    }
    return out;
  }

  function buildMessage(role, text) {
    var wrap = document.createElement('div');
    wrap.className = 'msg msg--' + role;

    var bubble = document.createElement('div');
    bubble.className = 'msg__bubble';

    var who = document.createElement('span');
    who.className = 'visually-hidden';
    who.textContent = ROLE_LABEL[role] + ': ';
    bubble.appendChild(who);

    var p = document.createElement('p');
    p.className = 'msg__text';
    p.textContent = text;           // never innerHTML
    bubble.appendChild(p);

    if (text === '') {
      bubble.hidden = true;
    }
    wrap.appendChild(bubble);
    return wrap;
  }

  function buildChoices(choices) {
    var group = document.createElement('div');
    group.className = 'choices';
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', 'Quick replies');
    choices.forEach(function (choice) {
      var btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'choice';
      btn.textContent = choice.label;
      btn.setAttribute('data-value', choice.value);
      btn.addEventListener('click', function () {
        sendChoice(choice, group);
      });
      group.appendChild(btn);
    });
    return group;
  }

  // Server messages go before optimistic bubbles that are still in flight
  // (or failed), so that the not-yet-confirmed bubbles stay at the bottom.
  function insertServerEl(el) {
    var before = null;
    for (var i = 0; i < state.pending.length; i++) {
      var p = state.pending[i];
      if (p.status !== 'sent' && p.el.parentNode === els.log) {
        before = p.el;
        break;
      }
    }
    els.log.insertBefore(el, before);
  }

  function focusComposerOrBanner() {
    if (!state.terminal && !els.input.disabled) {
      els.input.focus();
    } else if (els.ended.firstChild) {
      els.ended.focus();
    }
  }

  // Only the last server message may offer active choices, and only while
  // nothing has been answered after it and the conversation is still open.
  function refreshChoices() {
    var ls = state.lastServer;
    var hasOpenAnswer = state.pending.some(function (p) { return p.status !== 'failed'; });
    var activeEl = (ls && ls.role !== 'participant' && ls.choices.length &&
      !state.terminal && !hasOpenAnswer) ? ls.el : null;

    var groups = els.log.querySelectorAll('.choices');
    for (var i = 0; i < groups.length; i++) {
      var g = groups[i];
      if (g.parentNode !== activeEl) {
        var hadFocus = g.contains(document.activeElement);
        g.parentNode.removeChild(g);
        if (hadFocus) { focusComposerOrBanner(); }
      }
    }
    if (activeEl) {
      var existing = activeEl.querySelector('.choices');
      if (!existing) {
        activeEl.appendChild(buildChoices(ls.choices));
      } else {
        var btns = existing.querySelectorAll('button');
        for (var j = 0; j < btns.length; j++) { btns[j].disabled = state.sending; }
      }
    }
  }

  function updateTyping() {
    var show = !state.terminal && state.waitingSince > 0;
    if (els.typing.hidden === !show) { return; }
    var stick = isNearBottom();
    els.typing.hidden = !show;
    if (show && stick) { scrollToBottom(); }
  }

  function setPendingMeta(p, text, withRetry) {
    var meta = p.el.querySelector('.msg__meta');
    if (!meta) {
      meta = document.createElement('div');
      meta.className = 'msg__meta';
      p.el.appendChild(meta);
    }
    while (meta.firstChild) { meta.removeChild(meta.firstChild); }
    if (!text) {
      meta.hidden = true;
      return;
    }
    meta.hidden = false;
    var span = document.createElement('span');
    span.textContent = text;
    // Progress text is visual only; failures are announced via the alert.
    span.setAttribute('aria-hidden', 'true');
    meta.appendChild(span);
    if (withRetry) {
      var btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'msg__retry';
      btn.textContent = 'Retry';
      btn.setAttribute('aria-label', 'Retry sending your message');
      btn.addEventListener('click', function () {
        if (state.sending || state.terminal) { return; }
        deliver(p);
      });
      meta.appendChild(btn);
    }
  }

  function setPendingStatus(p, status) {
    p.status = status;
    p.el.classList.toggle('msg--pending', status === 'sending');
    p.el.classList.toggle('msg--failed', status === 'failed');
    if (status === 'sending') {
      setPendingMeta(p, 'Sending…', false);
    } else if (status === 'failed') {
      setPendingMeta(p, 'Not sent.', !state.terminal);
    } else {
      setPendingMeta(p, '', false);
    }
  }

  function removePending(p) {
    var i = state.pending.indexOf(p);
    if (i !== -1) { state.pending.splice(i, 1); }
  }

  // Match a server-echoed participant message to an optimistic bubble.
  function matchPending(text) {
    var norm = normalize(text);
    var i, p;
    for (i = 0; i < state.pending.length; i++) {
      if (normalize(state.pending[i].text) === norm) { return state.pending[i]; }
    }
    for (i = 0; i < state.pending.length; i++) {
      p = state.pending[i];
      if (p.kind === 'choice' && (normalize(p.value) === norm || normalize(p.label) === norm)) {
        return p;
      }
    }
    // The server may have normalised the text; the oldest acknowledged
    // bubble is then the best candidate.
    for (i = 0; i < state.pending.length; i++) {
      if (state.pending[i].status === 'sent') { return state.pending[i]; }
    }
    return null;
  }

  // Turn an optimistic bubble into the confirmed server message in place
  // (no node is re-added, so screen readers do not announce it twice).
  function reconcile(p, seq, text) {
    removePending(p);
    var el = p.el;
    el.classList.remove('msg--pending', 'msg--failed');
    el.setAttribute('data-seq', String(seq));
    var meta = el.querySelector('.msg__meta');
    if (meta) { meta.parentNode.removeChild(meta); }
    var t = el.querySelector('.msg__text');
    if (t && t.textContent !== text && text !== '') { t.textContent = text; }
    if (p.status === 'failed') { hideError(); }
    return el;
  }

  function applyMessages(list) {
    if (!Array.isArray(list) || !list.length) { return 0; }
    var msgs = list.filter(function (m) {
      return m && isFinite(Number(m.seq));
    }).sort(function (a, b) { return Number(a.seq) - Number(b.seq); });

    var stick = isNearBottom();
    var added = 0;

    msgs.forEach(function (m) {
      var seq = Number(m.seq);
      if (state.seen[seq]) { return; }
      state.seen[seq] = true;
      if (seq > state.lastSeq) { state.lastSeq = seq; }

      var role = normalizeRole(m.role);
      var text = typeof m.text === 'string' ? m.text : '';
      var choices = cleanChoices(m.choices);
      var el;

      if (role === 'participant') {
        var p = matchPending(text);
        if (p) {
          el = reconcile(p, seq, text);
        } else {
          el = buildMessage(role, text);
          el.setAttribute('data-seq', String(seq));
          insertServerEl(el);
        }
      } else {
        el = buildMessage(role, text);
        el.setAttribute('data-seq', String(seq));
        insertServerEl(el);
        stopWaiting();
      }
      state.lastServer = { seq: seq, role: role, choices: choices, el: el };
      added++;
    });

    if (added) {
      refreshChoices();
      if (stick || !state.loaded) { scrollToBottom(!state.loaded); }
    }
    return added;
  }

  // ---------------------------------------------------------------------
  // Status / ending
  // ---------------------------------------------------------------------

  function applyStatus(status) {
    if (typeof status !== 'string' || !status) { return; }
    state.status = status;
    root.setAttribute('data-status', status);
    if (TERMINAL[status]) {
      endConversation(ENDED_TITLE, ENDED_DETAIL[status] || '');
    }
  }

  function endConversation(title, detail) {
    if (state.terminal) { return; }
    var composerHadFocus = els.form.contains(document.activeElement) ||
      (document.activeElement && document.activeElement.classList &&
        document.activeElement.classList.contains('choice'));

    state.terminal = true;
    state.waitingSince = 0;
    els.start.hidden = true;
    updateTyping();
    hideConnection();

    // Build the banner inside the (already present) live region so it is announced.
    var t = document.createElement('p');
    t.className = 'ended__title';
    t.textContent = title;
    els.ended.appendChild(t);
    if (detail) {
      var d = document.createElement('p');
      d.className = 'ended__detail';
      d.textContent = detail;
      els.ended.appendChild(d);
    }
    root.classList.add('is-ended');

    state.pending.forEach(function (p) {
      if (p.status === 'failed') { setPendingStatus(p, 'failed'); }
    });

    updateComposer();
    refreshChoices();
    if (composerHadFocus) { els.ended.focus(); }
  }

  // ---------------------------------------------------------------------
  // Notices
  // ---------------------------------------------------------------------

  // The notice regions are live regions that stay in the DOM; they collapse
  // visually when empty (see .notice:empty in chat.css).
  function showError(msg) {
    els.error.textContent = msg;
  }

  function hideError() {
    if (els.error.firstChild) { els.error.textContent = ''; }
  }

  function showConnection(msg) {
    if (els.connection.textContent !== msg) { els.connection.textContent = msg; }
  }

  function hideConnection() {
    if (els.connection.firstChild) { els.connection.textContent = ''; }
  }

  // ---------------------------------------------------------------------
  // Waiting / typing indicator
  // ---------------------------------------------------------------------

  function startWaiting() {
    if (state.terminal) { return; }
    state.waitingSince = Date.now();
    updateTyping();
  }

  function stopWaiting() {
    state.waitingSince = 0;
    updateTyping();
  }

  function isWaiting() {
    if (!state.waitingSince) { return false; }
    if (Date.now() - state.waitingSince > WAIT_GIVE_UP_MS) {
      stopWaiting();
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------------
  // Polling
  // ---------------------------------------------------------------------

  function schedulePoll(delay) {
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    if (state.stopped || state.awaitingStart) { return; }
    state.pollTimer = setTimeout(poll, delay);
  }

  function pollNow() {
    state.idleDelay = POLL_IDLE_MIN_MS;
    schedulePoll(0);
  }

  function nextDelay(gotNew) {
    if (state.errorDelay) { return state.errorDelay; }
    if (state.terminal) { return POLL_ENDED_MS; }
    if (document.hidden) { return POLL_HIDDEN_MS; }
    if (isWaiting()) {
      return (Date.now() - state.waitingSince < WAIT_SLOW_AFTER_MS)
        ? POLL_WAITING_MS : POLL_WAITING_SLOW_MS;
    }
    if (gotNew) {
      state.idleDelay = POLL_IDLE_MIN_MS;
    } else {
      state.idleDelay = Math.min(POLL_IDLE_MAX_MS, Math.round(state.idleDelay * 1.6));
    }
    return state.idleDelay;
  }

  function fetchMessages() {
    var url = new URL(MESSAGES_URL, window.location.href);
    url.searchParams.set('after', String(state.lastSeq));
    if (state.interview != null) {
      url.searchParams.set('interview', String(state.interview));
    }
    return fetchWithTimeout(url.toString(), {
      method: 'GET',
      headers: { 'Accept': 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store'
    }, GET_TIMEOUT_MS).then(function (res) {
      return readJson(res).then(function (data) {
        return { res: res, data: data };
      });
    });
  }

  function poll() {
    state.pollTimer = null;
    if (state.stopped || state.awaitingStart) { return; }
    if (state.polling) {
      state.pollAgain = true;
      return;
    }
    state.polling = true;
    var gotNew = 0;

    fetchMessages().then(function (r) {
      var res = r.res;
      var data = r.data;
      if (res.status === 403 || res.status === 404 || res.status === 410) {
        var msg = data && data.error && data.error.message;
        linkGone(msg);
        return;
      }
      if (!res.ok || !data) {
        throw new Error('HTTP ' + res.status);
      }
      state.errorDelay = 0;
      state.errorCount = 0;
      hideConnection();

      if (data.status === 'not_started') {
        showStart();
        return;
      }
      if (data.interview != null && state.interview != null && data.interview !== state.interview) {
        resetConversation();   // HR restarted it: the server sent the new one from the start
      }
      if (data.interview != null) { state.interview = data.interview; }

      var firstLoad = !state.loaded;
      gotNew = applyMessages(data.messages);
      state.loaded = true;
      applyStatus(data.status);

      if (firstLoad && !state.terminal) {
        // A reply is still expected if nothing has been said yet, or if the
        // participant spoke last (e.g. the page was reloaded mid-turn).
        var ls = state.lastServer;
        var expectReply = (!ls || ls.role === 'participant') && state.status !== 'paused';
        if (expectReply) { startWaiting(); } else { stopWaiting(); }
      }
    }).catch(function () {
      state.errorCount++;
      state.errorDelay = state.errorDelay
        ? Math.min(POLL_ERROR_MAX_MS, state.errorDelay * 2)
        : 2000;
      if (state.errorCount >= 2 || !state.loaded) {
        showConnection(navigator.onLine === false
          ? 'You appear to be offline. We will reconnect automatically.'
          : 'Having trouble reaching the server — retrying…');
      }
    }).then(function () {
      state.polling = false;
      if (state.stopped) { return; }
      if (state.pollAgain) {
        state.pollAgain = false;
        schedulePoll(0);
        return;
      }
      schedulePoll(nextDelay(gotNew > 0));
    });
  }

  // ---------------------------------------------------------------------
  // Start, restart, a link that is gone
  // ---------------------------------------------------------------------

  // Opening the link changes nothing on the server; the conversation (and its
  // consent message) begins when the person presses Start, which POSTs.
  function showStart() {
    state.awaitingStart = true;
    stopWaiting();
    els.form.hidden = true;
    els.start.hidden = false;
    els.startButton.disabled = false;
  }

  function begin() {
    if (!state.awaitingStart || els.startButton.disabled) { return; }
    els.startButton.disabled = true;
    hideError();
    postOnce({}, START_URL).then(function (r) {
      if (r.res.status === 403 || r.res.status === 404 || r.res.status === 410) {
        linkGone(r.data && r.data.error && r.data.error.message);
        return;
      }
      if (!r.res.ok) {
        throw { userMessage: errorMessage(r.data, r.res.status) };
      }
      state.awaitingStart = false;
      if (r.data && r.data.interview != null) { state.interview = r.data.interview; }
      els.start.hidden = true;
      els.form.hidden = false;
      els.log.focus();
      startWaiting();
      pollNow();
    }).catch(function (err) {
      els.startButton.disabled = false;
      showError(err && err.userMessage
        ? err.userMessage
        : 'Could not start. Check your connection and press Start again.');
    });
  }

  // HR restarted the conversation: the page shows the new one from its first message.
  function resetConversation() {
    while (els.log.firstChild) { els.log.removeChild(els.log.firstChild); }
    state.lastSeq = 0;
    state.seen = Object.create(null);
    state.lastServer = null;
    state.pending = [];
    state.loaded = false;
    state.terminal = false;
    els.ended.textContent = '';
    root.classList.remove('is-ended');
    els.input.setAttribute('placeholder', PLACEHOLDER);
    els.log.appendChild(buildMessage('system', RESTARTED_NOTE));
    hideError();
    updateComposer();
  }

  // The server no longer shows this conversation (expired or unknown link): neither
  // does the page, so a transcript left open on a shared screen goes too.
  function linkGone(message) {
    state.stopped = true;
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    while (els.log.firstChild) { els.log.removeChild(els.log.firstChild); }
    state.pending = [];
    state.lastServer = null;
    state.terminal = false;      // so the banner below replaces any earlier one
    els.ended.textContent = '';
    endConversation(EXPIRED_TITLE, message || EXPIRED_DETAIL);
  }

  // ---------------------------------------------------------------------
  // Sending
  // ---------------------------------------------------------------------

  function postOnce(body, url) {
    return fetchWithTimeout(url || MESSAGES_URL, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Accept': 'application/json'
      },
      body: JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store'
    }, POST_TIMEOUT_MS).then(function (res) {
      return readJson(res).then(function (data) {
        return { res: res, data: data };
      });
    });
  }

  // Deliver an optimistic message. Network errors and 5xx are retried up to
  // POST_RETRIES times with the SAME client_id, so the server can dedupe.
  function deliver(p) {
    if (state.sending || state.terminal) { return Promise.resolve(); }
    state.sending = true;
    setPendingStatus(p, 'sending');
    updateComposer();
    refreshChoices();

    var body = p.kind === 'choice'
      ? { choice: p.value, client_id: p.clientId }
      : { text: p.text, client_id: p.clientId };

    var attempt = 0;

    function tryOnce() {
      return postOnce(body).then(function (r) {
        if (r.res.status >= 500) {
          return { outcome: 'retry', message: errorMessage(r.data, r.res.status) };
        }
        if (r.res.ok) { return { outcome: 'ok' }; }
        return {
          outcome: 'rejected',
          status: r.res.status,
          message: errorMessage(r.data, r.res.status)
        };
      }, function () {
        return { outcome: 'retry', message: null };
      }).then(function (result) {
        if (result.outcome === 'retry' && attempt < POST_RETRIES && !state.terminal) {
          attempt++;
          return sleep(1000 * Math.pow(2, attempt - 1)).then(tryOnce);
        }
        return result;
      });
    }

    return tryOnce().then(function (result) {
      state.sending = false;
      var stillPending = state.pending.indexOf(p) !== -1;

      if (result.outcome === 'ok') {
        if (stillPending) { setPendingStatus(p, 'sent'); }
        hideError();
        startWaiting();
        pollNow();
      } else if (result.outcome === 'rejected') {
        if (result.status === 410) {
          if (stillPending) { setPendingStatus(p, 'failed'); }
          endConversation(ENDED_TITLE, result.message);
        } else {
          // Not accepted: withdraw the bubble and give the text back.
          if (stillPending) {
            removePending(p);
            if (p.el.parentNode) { p.el.parentNode.removeChild(p.el); }
            if (p.kind === 'text' && !els.input.value) {
              els.input.value = p.text;
              onInput();
            }
          }
          showError(result.message);
        }
      } else {
        if (stillPending) { setPendingStatus(p, 'failed'); }
        showError(result.message && navigator.onLine !== false
          ? result.message + ' Your message was not sent — use Retry to try again.'
          : 'Your message could not be sent. Check your connection, then use Retry.');
      }

      updateComposer();
      refreshChoices();
      if (result.outcome !== 'ok' && !state.terminal &&
          (document.activeElement === document.body || !document.activeElement)) {
        els.input.focus();
      }
    });
  }

  function submit(kind, text, choice) {
    if (state.terminal || state.sending) { return; }
    var p = {
      clientId: uuid(),
      kind: kind,
      text: text,
      value: choice ? choice.value : null,
      label: choice ? choice.label : null,
      status: 'sending',
      el: buildMessage('participant', text)
    };
    state.pending.push(p);
    els.log.appendChild(p.el);
    scrollToBottom();
    deliver(p);
  }

  function sendChoice(choice, group) {
    if (state.terminal || state.sending) { return; }
    var btns = group.querySelectorAll('button');
    for (var i = 0; i < btns.length; i++) { btns[i].disabled = true; }
    // Keep focus in the composer rather than on a button that is about to go.
    els.input.focus();
    submit('choice', choice.label, choice);
  }

  function trySendText() {
    if (state.terminal || state.sending) { return; }
    var raw = els.input.value;
    var text = raw.replace(/^\s+|\s+$/g, '');
    if (!text) { return; }
    if (charCount(raw) > MAX_LEN) {
      showError('Your message is ' + fmt(charCount(raw) - MAX_LEN) +
        ' characters over the ' + fmt(MAX_LEN) + '-character limit. Please shorten it before sending.');
      els.input.focus();
      return;
    }
    hideError();
    els.input.value = '';
    onInput();
    submit('text', text, null);
    els.input.focus();
  }

  // ---------------------------------------------------------------------
  // Composer
  // ---------------------------------------------------------------------

  function autoResize() {
    var el = els.input;
    el.style.height = 'auto';
    var max = Math.max(120, Math.round(window.innerHeight * 0.4));
    var h = Math.min(el.scrollHeight + 2, max);
    el.style.height = h + 'px';
    el.style.overflowY = el.scrollHeight + 2 > max ? 'auto' : 'hidden';
  }

  function updateCounter() {
    var len = charCount(els.input.value);
    var over = len > MAX_LEN;
    var near = len >= WARN_AT;

    els.counter.hidden = !near;
    if (near) {
      els.counter.textContent = over
        ? fmt(len) + ' / ' + fmt(MAX_LEN) + ' — ' + fmt(len - MAX_LEN) + ' over the limit'
        : fmt(len) + ' / ' + fmt(MAX_LEN);
    } else {
      els.counter.textContent = '';
    }
    els.counter.classList.toggle('is-over', over);
    if (over) {
      els.input.setAttribute('aria-invalid', 'true');
    } else {
      els.input.removeAttribute('aria-invalid');
    }

    // Announce only when crossing a threshold, not on every keystroke.
    var level = over ? 2 : (near ? 1 : 0);
    if (level !== state.counterLevel) {
      state.counterLevel = level;
      els.counterSr.textContent = level === 2
        ? 'Your message is too long. The limit is ' + fmt(MAX_LEN) + ' characters.'
        : level === 1
          ? fmt(MAX_LEN - len) + ' characters left.'
          : '';
    }
    return { len: len, over: over };
  }

  function updateComposer() {
    var c = updateCounter();
    if (state.terminal) {
      els.input.disabled = true;
      els.input.setAttribute('placeholder', 'This conversation has ended');
      els.send.disabled = true;
      els.form.classList.add('is-disabled');
      return;
    }
    els.form.classList.remove('is-disabled');
    els.input.disabled = false;
    var empty = !els.input.value.trim();
    els.send.disabled = state.sending || empty || c.over;
    els.form.classList.toggle('is-sending', state.sending);
  }

  function onInput() {
    autoResize();
    updateComposer();
  }

  // ---------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------

  els.form.addEventListener('submit', function (e) {
    e.preventDefault();
    trySendText();
  });

  els.input.addEventListener('keydown', function (e) {
    if (e.key !== 'Enter' || e.shiftKey) { return; }
    // Do not hijack Enter while an IME composition is in progress.
    if (e.isComposing || e.keyCode === 229) { return; }
    e.preventDefault();
    trySendText();
  });

  els.input.addEventListener('input', onInput);

  window.addEventListener('resize', autoResize);

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && !state.terminal) { pollNow(); }
  });

  window.addEventListener('online', function () {
    if (!state.terminal) {
      state.errorDelay = 0;
      pollNow();
    }
  });

  window.addEventListener('pageshow', function (e) {
    if (e.persisted && !state.terminal) { pollNow(); }
  });

  window.addEventListener('beforeunload', function (e) {
    var unsent = state.sending || state.pending.some(function (p) { return p.status === 'failed'; });
    if (unsent && !state.terminal) {
      e.preventDefault();
      e.returnValue = '';
    }
  });

  // ---------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------

  if (!MESSAGES_URL) {
    showError('This page is missing its conversation address. Please reopen the link you were sent.');
    return;
  }

  els.startButton.addEventListener('click', begin);
  root.classList.add('is-ready');
  onInput();
  if (STARTED) {
    startWaiting();   // show the typing indicator until the first load answers
    poll();
  } else {
    showStart();
  }
})();
