/*
 * app.js - the HealthMate dashboard shell: sign in, the connection state,
 * navigation, toasts, and the modules (app-vitals.js, app-chat.js,
 * app-notify.js) that each own a part of the page. Uses hm-client.js.
 *
 * Token sources, in order: the URL fragment (#token=...), this tab's
 * session storage, and demo.json next to this page ({"token": "..."}, only
 * present when the stack runs in demo mode) which fills the form.
 * URL parameters: ?ws=<url> overrides the WebSocket URL.
 */
(function () {
  'use strict';

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  /* h('div', {class: 'x', onclick: fn}, 'text', child, [more]) */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style') el.style.cssText = v; // CSSOM: allowed by the edge's CSP (style-src 'self')
      else if (k === 'html') el.innerHTML = v; // static markup only, never data
      else el.setAttribute(k, v === true ? '' : v);
    }
    const add = (c) => {
      if (c == null || c === false) return;
      if (Array.isArray(c)) c.forEach(add);
      else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    };
    kids.forEach(add);
    return el;
  }

  function parseTime(v) {
    if (v == null) return NaN;
    if (typeof v === 'number') return v < 1e12 ? v * 1000 : v;
    const t = Date.parse(v);
    return isNaN(t) ? NaN : t;
  }

  function fmtTime(t) {
    if (!isFinite(t)) return '';
    const d = new Date(t);
    const today = new Date();
    const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (d.toDateString() === today.toDateString()) return hm;
    return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hm;
  }

  function ago(t) {
    if (!isFinite(t)) return '';
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return fmtTime(t);
  }

  /* fn, called at most once per ms, after the calls stop. */
  function debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  }

  function errText(e) {
    if (!e) return 'failed';
    const code = e.code || '';
    if (code === 'service_unavailable') return 'the service is not answering right now; try again shortly';
    if (code === 'connection_lost') return 'the connection dropped before the answer came';
    if (code === 'offline') return 'not connected';
    return (e.message || code || 'failed') + (code && e.message && e.message !== code ? ` (${code})` : '');
  }

  const App = {
    $, $$, h, parseTime, fmtTime, ago, errText, debounce,
    client: null,
    me: null,
    modules: [],
    view: 'vitals',
    everLive: false,
    register(mod) { this.modules.push(mod); },
    each(fn, ...args) {
      for (const m of this.modules) if (typeof m[fn] === 'function') {
        try { m[fn](...args); } catch (e) { console.error(m.name, fn, e); }
      }
    },
  };
  window.HMApp = App;
  // The edge's Content-Security-Policy allows no inline script: boot from here
  // once every module script has registered.
  document.addEventListener('DOMContentLoaded', () => App.boot());

  /* ---- toasts and the critical banner ------------------------------------ */

  App.toast = function (text, cls, ms) {
    const t = h('div', { class: 'toast ' + (cls || '') }, text);
    $('#toasts').appendChild(t);
    setTimeout(() => t.remove(), ms || 5000);
  };

  /* ---- navigation -------------------------------------------------------- */

  App.show = function (view) {
    if (!$('#view-' + view)) view = 'vitals';
    App.view = view;
    for (const s of $$('.view')) s.hidden = s.id !== 'view-' + view;
    for (const b of $$('.nav-item')) b.classList.toggle('active', b.dataset.view === view);
    if (location.hash !== '#' + view) history.replaceState(null, '', '#' + view);
    App.each('onShow', view);
  };

  /* ---- connection state -------------------------------------------------- */

  let countdown = null;
  const TOKEN_GONE = [4002, 4003, 4011]; // auth failed, expired, revoked
  function renderState(st) {
    const conn = $('#conn');
    const text = $('#conn-text');
    const retry = $('#conn-retry');
    clearInterval(countdown);
    retry.hidden = true;
    retry.textContent = 'Retry now';
    conn.dataset.state = st.state;
    conn.title = st.reason || '';
    const foot = $('#conn-foot');
    const c = App.client;
    if (st.state === 'connecting') text.textContent = st.reconnect ? 'Reconnecting…' : 'Connecting…';
    else if (st.state === 'authenticating') text.textContent = st.reconnect ? 'Reconnecting…' : 'Signing in…';
    else if (st.state === 'live') text.textContent = st.reconnect ? 'Live · resumed' : 'Live';
    else if (st.state === 'reconnecting') {
      const tick = () => {
        const s = Math.max(0, Math.ceil((st.retryAt - Date.now()) / 1000));
        const off = navigator.onLine === false ? 'Offline · ' : '';
        text.textContent = `${off}Reconnecting in ${s} s`;
      };
      tick();
      countdown = setInterval(tick, 250);
      retry.hidden = false;
    } else if (st.state === 'closed') {
      text.textContent = 'Disconnected: ' + (st.why || st.reason || 'closed');
      retry.textContent = 'Reconnect';
      retry.hidden = !!st.byClient;
    }
    else text.textContent = 'Not connected';
    if (c && c.user) {
      foot.textContent = `Connection ${String(c.user.connection_id || '').slice(0, 8)} · ` +
        `${c.stats.connects} connect${c.stats.connects === 1 ? '' : 's'}`;
    }
  }

  function renderQueue(n) {
    const q = $('#queue-pill');
    q.hidden = !n;
    q.textContent = `${n} waiting to send`;
  }

  /* ---- sign in / out ----------------------------------------------------- */

  function wsUrl() {
    const p = new URLSearchParams(location.search);
    return p.get('ws') || undefined;
  }

  function showSignin(error, token) {
    $('#shell').hidden = true;
    $('#signin').hidden = false;
    $('#signin-error').textContent = error || '';
    if (token != null) $('#token-input').value = token;
    $('#signin-btn').disabled = false;
    $('#signin-btn').textContent = 'Sign in';
  }

  function showShell() {
    $('#signin').hidden = true;
    $('#shell').hidden = false;
    const u = App.me;
    $('#me-name').textContent = u.display_name || `User #${u.user_id}`;
    $('#me-avatar').textContent = (u.display_name || u.role || 'U').trim().charAt(0).toUpperCase();
    $('#me-role').textContent = u.role || '';
    $('#nav-patients').hidden = !['clinician', 'caregiver', 'admin'].includes(u.role);
    const want = (location.hash || '').slice(1);
    App.show(want && !want.includes('=') ? want : (u.role === 'clinician' ? 'patients' : 'vitals'));
  }

  /* The name in the token, when it carries one (display only; never trusted). */
  function tokenClaims(token) {
    try {
      const b = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(decodeURIComponent(escape(atob(b))));
    } catch (e) { return {}; }
  }

  App.signIn = function (token) {
    token = (token || '').trim();
    if (!token) return showSignin('Paste a token first.');
    if (App.client) App.client.close('switching user');
    $('#signin-btn').disabled = true;
    $('#signin-btn').textContent = 'Signing in…';
    $('#signin-error').textContent = '';
    App.everLive = false;
    const client = new HMClient({
      url: wsUrl(),
      token,
      subscriptions: App.subscriptions(),
      backoff: { initialMs: 500, maxMs: 10000, factor: 2, jitter: 0.5 },
    });
    App.client = client;
    client.on('state', (st) => {
      if (client !== App.client) return;
      renderState(st);
      if (!App.everLive && st.state === 'reconnecting') {
        $('#signin-error').textContent = `Cannot reach the server (${st.reason}); trying again in ${Math.ceil(st.retryInMs / 1000)} s…`;
      }
      if (st.state === 'closed' && !st.byClient) {
        if (!App.everLive || TOKEN_GONE.includes(st.code)) {
          // The token will not work again: back to the sign-in form, saying why.
          sessionStorage.removeItem('hm.token');
          showSignin((App.everLive ? 'Signed out: ' : 'Could not sign in: ') + (st.reason || st.why || 'connection closed'));
        } else {
          App.toast('Disconnected: ' + (st.why || st.reason), 'crit', 10000);
        }
      }
      App.each('onState', st);
    });
    client.on('queue', renderQueue);
    client.on('authenticated', (user) => {
      if (client !== App.client) return;
      const claims = tokenClaims(client.token);
      App.me = Object.assign({ display_name: claims.name || claims.display_name || '' }, user);
      sessionStorage.setItem('hm.token', client.token);
      if (!App.everLive) {
        App.everLive = true;
        showShell();
        App.each('onSignedIn', client, App.me);
      } else {
        App.each('onResumed', client, App.me);
      }
    });
    client.on('reconnect', () => App.toast('The server asked this page to reconnect; resuming…'));
    client.on('token_expiring', () => App.toast('Your session expires soon. Sign in again to stay connected.', '', 8000));
    App.each('onClient', client);
    try {
      client.connect();
    } catch (e) {
      showSignin(e.message);
    }
  };

  /* Subscriptions the modules need (own streams plus watched patients). */
  App.subscriptions = function () {
    const subs = ['health_updates', 'chat', 'notifications'];
    for (const m of App.modules) if (m.extraSubscriptions) subs.push(...m.extraSubscriptions());
    return subs;
  };

  App.signOut = function () {
    sessionStorage.removeItem('hm.token');
    if (App.client) App.client.close('signed out');
    App.client = null;
    App.me = null;
    App.each('reset');
    history.replaceState(null, '', location.pathname + location.search);
    showSignin('', '');
  };

  /* ---- boot -------------------------------------------------------------- */

  App.boot = function () {
    for (const b of $$('.nav-item')) b.addEventListener('click', () => App.show(b.dataset.view));
    $('#signin-form').addEventListener('submit', (e) => { e.preventDefault(); App.signIn($('#token-input').value); });
    $('#token-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); App.signIn($('#token-input').value); }
    });
    $('#signout').addEventListener('click', App.signOut);
    $('#conn-retry').addEventListener('click', () => {
      const c = App.client;
      if (!c) return;
      if (c.state === 'closed') c.connect();
      else c.retryNow();
    });
    window.addEventListener('hashchange', () => {
      const v = location.hash.slice(1);
      if (App.me && v && v !== App.view && !v.includes('=')) App.show(v);
    });
    window.addEventListener('offline', () => App.client && App.client.state === 'reconnecting' && renderState(App.client.stateInfo));
    App.each('init');

    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      const tok = decodeURIComponent(m[1]);
      history.replaceState(null, '', location.pathname + location.search);
      return App.signIn(tok);
    }
    const saved = sessionStorage.getItem('hm.token');
    if (saved) return App.signIn(saved);
    showSignin('', '');
    fetch('demo.json', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).then((d) => {
      if (d && d.token && !$('#token-input').value) {
        $('#token-input').value = d.token;
        $('#demo-hint').hidden = false;
      }
    }).catch(() => {});
  };
})();
