// The storefront page (GET /): pick a shopper, see their recommendations with catalogue
// titles, click one to send a real click (POST /v1/events) and watch the list change,
// similar items, and a live panel from GET /v1/stats. Plain browser JavaScript, no
// libraries, no build step; it talks only to the server that served it.
//
// Everything shown comes from user data (ids, titles, categories), so the DOM is built
// with createElement/textContent only: nothing is ever parsed as HTML.
'use strict';

(function () {
  const K = 12;                 // recommendations shown
  const SIMILAR_K = 8;
  const CHANGE_WAIT_MS = 10000;  // how long to look for the click to show in the list
  const CHANGE_POLL_MS = 50;
  const KNOWN_CHANNELS = ['cooc', 'two_tower', 'popular', 'fallback'];

  const $ = (id) => document.getElementById(id);
  const state = {
    user: '',
    items: [],                 // the last rendered recommendation list
    catalog: new Map(),        // item id -> catalogue entry (or null: unknown)
    renders: 0,
    busy: false,
  };

  // One element with text and attributes; children appended as nodes or text.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === 'class') node.className = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  // Where serving needs a bearer token (serving.http_bearer_token_file), open the page as
  // /#token=TOKEN: the fragment never leaves the browser; the page keeps the token for
  // this tab and sends it with each API call.
  const TOKEN_KEY = 'streamrec.token';
  (function takeTokenFromFragment() {
    const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (!match) return;
    try { sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1])); } catch (e) { /* storage off */ }
    history.replaceState(null, '', window.location.pathname + window.location.search);
  })();

  async function api(path, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5000);
    const request = Object.assign({ signal: controller.signal, cache: 'no-store' }, options || {});
    let token = null;
    try { token = sessionStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
    if (token) request.headers = Object.assign({}, request.headers, { Authorization: 'Bearer ' + token });
    try {
      const res = await fetch(path, request);
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      if (!res.ok) {
        const message = body && body.error ? body.error.message : res.statusText;
        throw new Error(res.status + ' ' + message);
      }
      return body;
    } finally {
      clearTimeout(timer);
    }
  }

  function setStatus(text, kind) {
    const s = $('status');
    s.textContent = text;
    s.className = kind || '';
  }

  // Fills the catalogue cache for `ids` (one GET /v1/items for the ones not known yet).
  async function loadCatalog(ids) {
    const missing = ids.filter((id) => !state.catalog.has(id));
    if (missing.length === 0) return;
    const query = missing.map((id) => 'id=' + encodeURIComponent(id)).join('&');
    const body = await api('/v1/items?' + query);
    for (const item of body.items || []) state.catalog.set(item.item_id, item);
    for (const id of body.unknown || []) state.catalog.set(id, null);
  }

  function titleOf(id) {
    const entry = state.catalog.get(id);
    return entry && entry.title ? entry.title : id;
  }

  function channelBadges(sources) {
    const box = el('span', { class: 'channels' });
    for (const source of sources || []) {
      const known = KNOWN_CHANNELS.includes(source);
      box.appendChild(el('span', { class: 'badge' + (known ? ' ch-' + source : '') }, String(source)));
    }
    return box;
  }

  function card(item, rank, isNew, modelVersion) {
    const entry = state.catalog.get(item.item_id);
    const meta = [];
    if (entry && entry.category) meta.push(entry.category);
    if (entry && entry.brand) meta.push(entry.brand);
    if (entry && entry.available === false) meta.push('unavailable');
    const li = el('li', { class: 'card' + (isNew ? ' new' : ''), 'data-item-id': item.item_id });
    const button = el('button', { type: 'button', class: 'item', title: 'click: send a click event for this item' },
      el('span', { class: 'rank' }, String(rank)),
      el('span', { class: 'title' }, titleOf(item.item_id)),
      el('span', { class: 'meta' }, meta.join(' · ')),
      entry && entry.title ? el('span', { class: 'id' }, item.item_id) : null,
      channelBadges(item.sources),
      el('span', { class: 'score' },
        'score ' + Number(item.score).toFixed(3) + ' · model v' + modelVersion));
    button.addEventListener('click', () => clickItem(item.item_id));
    li.appendChild(button);
    return li;
  }

  function render(response, previousIds) {
    const list = $('recs');
    const items = response.items || [];
    const before = new Set(previousIds);
    list.replaceChildren(...items.map((item, i) =>
      card(item, i + 1, previousIds.length > 0 && !before.has(item.item_id), response.model_version)));
    state.items = items;
    state.renders += 1;
    list.setAttribute('data-renders', String(state.renders));
    list.setAttribute('data-model-version', String(response.model_version));
    $('rec-user').textContent = response.user_id;
    const meta = ['model v' + response.model_version, items.length + ' items'];
    if (response.cold_start) meta.push('cold start: no recent clicks, trending items');
    if (previousIds.length > 0) meta.push('highlighted: new since the click');
    $('rec-meta').textContent = meta.join(' · ');
    document.body.setAttribute('data-state', 'ready');
  }

  async function fetchRecommendations(user) {
    const body = await api('/v1/recommendations?user_id=' + encodeURIComponent(user) + '&k=' + K);
    await loadCatalog((body.items || []).map((item) => item.item_id));
    return body;
  }

  const idsOf = (items) => items.map((item) => item.item_id);
  const sameList = (a, b) => a.length === b.length && a.every((id, i) => id === b[i]);

  async function showUser(user) {
    user = user.trim();
    if (!user) return;
    state.user = user;
    $('user-input').value = user;
    if (location.hash !== '#user=' + encodeURIComponent(user)) {
      history.replaceState(null, '', '#user=' + encodeURIComponent(user));
    }
    document.body.setAttribute('data-state', 'loading');
    setStatus('Loading recommendations for ' + user + '…');
    try {
      const response = await fetchRecommendations(user);
      if (state.user !== user) return;  // another shopper was picked meanwhile
      render(response, []);
      setStatus('Click an item to send a click for ' + user + '.');
      if (response.items && response.items.length > 0) showSimilar(response.items[0].item_id);
    } catch (e) {
      document.body.setAttribute('data-state', 'error');
      setStatus('Could not load recommendations: ' + e.message, 'error');
    }
  }

  async function clickItem(itemId) {
    if (state.busy || !state.user) return;
    state.busy = true;
    const user = state.user;
    const beforeIds = idsOf(state.items);
    document.body.setAttribute('data-state', 'clicking');
    setStatus('Sending a click on ' + titleOf(itemId) + '…');
    const started = performance.now();
    try {
      const event = { user_id: user, item_id: itemId, event: 'click', ts: Date.now() };
      await api('/v1/events', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(event),
      });
      showSimilar(itemId);
      // The click travels through Kafka to serving's copy of the user's window; ask again
      // until the answer shows it (bounded): a seen item is never recommended, so the
      // clicked one is gone. Other shoppers' clicks may reorder the list sooner; that is
      // not this click's effect.
      let response = null;
      let changed = false;
      while (performance.now() - started < CHANGE_WAIT_MS) {
        response = await fetchRecommendations(user);
        const ids = idsOf(response.items || []);
        if (!ids.includes(itemId) && !sameList(ids, beforeIds)) { changed = true; break; }
        await new Promise((resolve) => setTimeout(resolve, CHANGE_POLL_MS));
      }
      if (state.user !== user) return;
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      if (response) render(response, beforeIds);
      document.body.setAttribute('data-last-click', itemId);
      if (changed) {
        setStatus('Clicked ' + titleOf(itemId) + ': the list changed ' + seconds + ' s later.', 'ok');
      } else {
        setStatus('Clicked ' + titleOf(itemId) + ': the list did not change within ' + seconds + ' s.', 'warn');
      }
    } catch (e) {
      document.body.setAttribute('data-state', 'error');
      setStatus('Click failed: ' + e.message, 'error');
    } finally {
      state.busy = false;
    }
  }

  async function showSimilar(itemId) {
    $('similar-of').textContent = titleOf(itemId);
    const list = $('similar');
    list.setAttribute('data-item-id', itemId);
    try {
      const body = await api('/v1/items/' + encodeURIComponent(itemId) + '/similar?k=' + SIMILAR_K);
      await loadCatalog((body.items || []).map((item) => item.item_id));
      if (list.getAttribute('data-item-id') !== itemId) return;
      $('similar-of').textContent = titleOf(itemId);
      list.replaceChildren(...(body.items || []).map((item) => {
        const entry = state.catalog.get(item.item_id);
        const li = el('li', { 'data-item-id': item.item_id },
          el('span', { class: 'title' }, titleOf(item.item_id)),
          el('span', { class: 'meta' }, entry && entry.category ? entry.category : ''),
          channelBadges(item.sources));
        return li;
      }));
      if (!body.items || body.items.length === 0) list.replaceChildren(el('li', { class: 'empty' }, 'nothing similar yet'));
    } catch (e) {
      if (list.getAttribute('data-item-id') !== itemId) return;
      list.replaceChildren(el('li', { class: 'empty' }, e.message.startsWith('404') ? 'no neighbours known yet' : e.message));
    }
  }

  function formatNumber(value, digits) {
    return value === null || value === undefined ? '–' : Number(value).toFixed(digits);
  }

  function formatSeconds(s) {
    if (s === null || s === undefined) return '–';
    if (s < 1) return Math.round(s * 1000) + ' ms';
    if (s < 120) return s.toFixed(1) + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    return Math.round(s / 3600) + ' h';
  }

  function formatMs(ms) {
    if (ms === null || ms === undefined) return '–';
    return ms < 10 ? ms.toFixed(1) + ' ms' : formatSeconds(ms / 1000);
  }

  // GET /v1/stats: figures of this process's Prometheus registry over the last seconds.
  async function refreshStats() {
    try {
      const s = await api('/v1/stats');
      $('stat-events').textContent = formatNumber(s.events_per_s, 0);
      const model = $('stat-model');
      if (s.model_version === null) model.textContent = '–';
      else model.textContent = s.model_version > 0 ? 'v' + s.model_version : 'none yet';
      model.title = s.model_age_s === null ? '' : 'written ' + formatSeconds(s.model_age_s) + ' ago';
      $('stat-model-age').textContent = s.model_age_s === null ? '' : formatSeconds(s.model_age_s) + ' old';
      $('stat-freshness').textContent = formatMs(s.freshness_p99_ms);
      $('stat-p99').textContent = formatMs(s.p99_ms);
      $('stat-requests').textContent = formatNumber(s.requests_per_s, 1);
      $('stat-lag').textContent = formatNumber(s.consumer_lag, 0);
      $('live').setAttribute('data-updated', String(s.time_ms));
      $('live').classList.remove('stale');
    } catch (e) {
      $('live').classList.add('stale');
    }
  }

  async function refreshRecentUsers() {
    try {
      const body = await api('/v1/users/recent?limit=8');
      const users = body.users || [];
      $('recent-users').replaceChildren(...users.map((u) => el('option', { value: u })));
      const box = $('recent');
      box.replaceChildren(el('span', { class: 'label' }, users.length ? 'recently active:' : 'no clicks yet'),
        ...users.map((u) => {
          const chip = el('button', { type: 'button', class: 'chip' }, u);
          chip.addEventListener('click', () => showUser(u));
          return chip;
        }));
      return users;
    } catch (e) {
      return [];
    }
  }

  function userFromHash() {
    const m = /^#user=(.*)$/.exec(location.hash);
    if (!m) return '';
    try { return decodeURIComponent(m[1]); } catch (e) { return ''; }
  }

  async function start() {
    $('user-form').addEventListener('submit', (e) => {
      e.preventDefault();
      showUser($('user-input').value);
    });
    window.addEventListener('hashchange', () => {
      const user = userFromHash();
      if (user && user !== state.user) showUser(user);
    });
    refreshStats();
    setInterval(refreshStats, 1000);
    const users = await refreshRecentUsers();
    setInterval(refreshRecentUsers, 5000);
    const initial = userFromHash() || users[0] || '';
    if (initial) showUser(initial);
    else document.body.setAttribute('data-state', 'ready');
  }

  start();
})();
