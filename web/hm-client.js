/*
 * hm-client.js - a small, dependency-free client for HealthMate Realtime.
 *
 * One WebSocket (default: this page's host, /ws/combined) that
 *   - authenticates with a JWT and refreshes it through a hook,
 *   - subscribes to streams and, after every reconnect, subscribes again
 *     with since_seq = the last seq seen on each stream (resume), dropping
 *     any event whose seq it has already seen (nothing missed, nothing doubled),
 *   - sends requests with correlation ids and returns promises for replies,
 *   - keeps requests made while disconnected in a bounded queue and sends
 *     them, in order, once it is live again,
 *   - sends heartbeats and treats a silent server as gone,
 *   - reconnects with exponential backoff and jitter, except where the close
 *     code says not to (auth failed, expired, revoked, forbidden, idle logoff).
 *
 * Works in browsers (window.HMClient) and in Node (module.exports; pass
 * { WebSocket } when there is no global one). See README for the API.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.HMClient = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /* Which stream (subscription) an event type belongs to. Types not listed
   * (typing, chat_message_delta) are ephemeral and never deduplicated. */
  const STREAM_OF = {
    health_update: 'health_updates',
    health_alert: 'health_updates',
    chat_message: 'chat',
    notification: 'notifications',
  };
  const EVENT_TYPES = ['health_update', 'health_alert', 'chat_message', 'chat_message_delta',
    'typing', 'notification'];

  /* Close codes after which reconnecting cannot help (proto/SPEC.md 6). */
  const STOP = {
    1000: 'the server closed the connection',
    1002: 'protocol error',
    1007: 'invalid data sent',
    1008: 'this page is not allowed to connect (Origin refused)',
    1009: 'a message was too big',
    4002: 'sign-in failed: the token was not accepted',
    4003: 'your session expired: sign in again',
    4004: 'access forbidden',
    4009: 'signed out after a period of inactivity',
    4011: 'the token was revoked: sign in again',
    4029: 'too many open connections for this user: close another tab or device',
  };
  /* Why a reconnect happens, for people. */
  const WHY = {
    1001: 'server going away', 1005: 'connection closed', 1006: 'connection lost',
    1011: 'server error', 1012: 'server restart', 1013: 'server busy', 3000: 'server not answering',
    4001: 'authentication timed out', 4008: 'rate limited', 4010: 'connection fell behind',
  };

  class HMError extends Error {
    constructor(code, message, reply) {
      super(message || code);
      this.name = 'HMError';
      this.code = code;
      this.reply = reply || null;
    }
  }

  function uuid4() {
    const c = typeof crypto !== 'undefined' ? crypto : null;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function defaultUrl() {
    if (typeof location === 'undefined' || !location.host) return 'ws://localhost:8000/ws/combined';
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/combined';
  }

  /* Normalizes a subscription given as a name or an object. */
  function normSub(s) {
    const o = typeof s === 'string' ? { subscription: s } : Object.assign({}, s);
    if (!o.subscription) throw new HMError('invalid_subscription', 'subscription name needed');
    if (o.user_id != null) o.user_id = Number(o.user_id);
    return o;
  }

  class HMClient {
    /**
     * @param {object} opts
     *   url            WebSocket URL (default ws(s)://<this host>/ws/combined)
     *   token          the JWT
     *   refreshToken   async () => new token; used on token_expiring and close 4003
     *   subscriptions  e.g. ['health_updates', 'chat', 'notifications',
     *                  {subscription: 'health_updates', user_id: 7}]
     *   backoff        {initialMs: 500, maxMs: 15000, factor: 2, jitter: 0.5}
     *   requestTimeoutMs  default 15000
     *   connectTimeoutMs  open + authenticate deadline, default 10000
     *   maxQueue       requests kept while offline, default 200
     *   WebSocket      constructor (default the global one)
     */
    constructor(opts) {
      opts = opts || {};
      this.url = opts.url || defaultUrl();
      this.token = opts.token || null;
      this.refreshHook = opts.refreshToken || null;
      this.backoff = Object.assign({ initialMs: 500, maxMs: 15000, factor: 2, jitter: 0.5 },
        opts.backoff || {});
      this.requestTimeoutMs = opts.requestTimeoutMs || 15000;
      this.connectTimeoutMs = opts.connectTimeoutMs || 10000;
      this.maxQueue = opts.maxQueue || 200;
      this.WS = opts.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null);
      this.subs = new Map();          // key -> {subscription, user_id?, max_rate?}
      for (const s of opts.subscriptions || ['health_updates', 'chat', 'notifications'])
        this._addSub(normSub(s));
      this.seqs = new Map();          // stream key -> last seq seen (dedupe and resume)
      this.base = new Map();          // stream key -> the stream's seq when followed (resume only)
      this.handlers = new Map();      // event -> Set(fn)
      this.pending = new Map();       // correlation_id -> {resolve, reject, timer, type}
      this.queue = [];                // [{msg, resolve, reject, timeoutMs}] while not live
      this.ws = null;
      this.state = 'idle';
      this.stateInfo = { state: 'idle' };
      this.attempt = 0;
      this.user = null;               // {user_id, role, connection_id, expires_at}
      this.connectionId = null;
      this.heartbeatMs = 30000;
      this.stats = { connects: 0, reconnects: 0, duplicatesDropped: 0, eventsReceived: 0 };
      this._timers = {};
      this._wanted = false;
      if (typeof window !== 'undefined' && window.addEventListener)
        window.addEventListener('online', () => { if (this.state === 'reconnecting') this._retryNow(); });
    }

    /* ---- events ---------------------------------------------------------- */

    /** Calls fn(payload) on event; returns a function that removes it. Events:
     * 'state', every server message type ('health_update', 'notification', ...),
     * 'event' (every stream event after dedupe), 'message' (every frame),
     * 'queue' (length), 'authenticated', 'resumed' (a reconnect completed),
     * 'gap' ({stream, from, to}: seqs skipped), 'token_refreshed'. */
    on(event, fn) {
      if (!this.handlers.has(event)) this.handlers.set(event, new Set());
      this.handlers.get(event).add(fn);
      return () => this.off(event, fn);
    }
    off(event, fn) { const s = this.handlers.get(event); if (s) s.delete(fn); }
    emit(event, payload) {
      const s = this.handlers.get(event);
      if (!s) return;
      for (const fn of Array.from(s)) {
        try { fn(payload); } catch (e) { if (typeof console !== 'undefined') console.error(e); }
      }
    }

    /* ---- lifecycle ------------------------------------------------------- */

    /** Opens the connection (token optional if given before). */
    connect(token) {
      if (token) this.token = token;
      if (!this.token) throw new HMError('missing_token', 'a token is needed to connect');
      if (!this.WS) throw new HMError('no_websocket', 'no WebSocket implementation');
      this._wanted = true;
      this.attempt = 0;
      this._open();
      return this;
    }

    /** Closes for good (no reconnect); queued and in-flight requests fail. */
    close(reason) {
      this._wanted = false;
      this._clearTimers();
      this._teardown(1000, reason || 'closed by the client');
      this._failPending('closed', 'the client was closed');
      this._failQueue('closed', 'the client was closed');
      this._setState('closed', { code: 1000, reason: reason || 'signed out', byClient: true });
    }

    /** Replaces the token; on a live connection sends refresh_token. */
    setToken(token) {
      this.token = token;
      if (this.state === 'live') {
        return this.request('refresh_token', null, { extra: { token } }).then((rep) => {
          this.emit('token_refreshed', rep);
          return rep;
        });
      }
      return Promise.resolve(null);
    }

    isLive() { return this.state === 'live'; }

    /* ---- subscriptions and seq ------------------------------------------- */

    _key(sub) {
      const u = sub.user_id;
      return u && (!this.user || u !== this.user.user_id) ? `${sub.subscription}:${u}` : sub.subscription;
    }
    _addSub(sub) { this.subs.set(this._key(sub), sub); return sub; }

    /** Follows a stream (kept across reconnects). Resolves with 'subscribed'. */
    subscribe(s) {
      const sub = this._addSub(normSub(s));
      if (this.state !== 'live') return Promise.resolve(null);
      return this._sendSub(sub);
    }

    /** Stops following a stream. */
    unsubscribe(s) {
      const sub = normSub(s);
      this.subs.delete(this._key(sub));
      if (this.state !== 'live') return Promise.resolve(null);
      const extra = { subscription: sub.subscription };
      if (sub.user_id) extra.user_id = sub.user_id;
      return this.request('unsubscribe', null, { extra });
    }

    _sendSub(sub) {
      const extra = { subscription: sub.subscription };
      if (sub.user_id && (!this.user || sub.user_id !== this.user.user_id)) extra.user_id = sub.user_id;
      if (sub.max_rate) extra.max_rate = sub.max_rate;
      const key = this._key(sub);
      const since = this.resumeSeq(key);
      if (since != null) extra.since_seq = since;
      return this.request('subscribe', null, { extra, queue: false }).then((rep) => {
        // Where the stream stood when followed: a reconnect resumes from
        // there even before an event was seen. Not used to drop events.
        if (rep && typeof rep.seq === 'number' && !this.base.has(key)) this.base.set(key, rep.seq);
        return rep;
      });
    }

    /** The last seq seen on a stream ('health_updates', 'chat:7', ...). */
    lastSeq(key) { return this.seqs.get(key); }

    /** The since_seq a resubscribe of stream key sends (undefined: none). */
    resumeSeq(key) {
      const a = this.seqs.get(key), b = this.base.get(key);
      if (a == null) return b;
      return b == null ? a : Math.max(a, b);
    }

    /** Records that the app has seen seq on a stream (e.g. from a history
     * query), so a resume does not deliver it again. Never lowers it. */
    noteSeq(key, seq) {
      if (typeof seq !== 'number' || seq < 0) return;
      const cur = this.seqs.get(key);
      if (cur == null || seq > cur) this.seqs.set(key, seq);
    }

    /** The stream key of an event, or null for ephemeral ones. */
    streamKey(msg) {
      const stream = STREAM_OF[msg.type];
      if (!stream) return null;
      if (msg.type === 'notification' && !msg.user_id) return 'notifications:all';
      if (msg.user_id && this.user && msg.user_id !== this.user.user_id) return `${stream}:${msg.user_id}`;
      return stream;
    }

    /* ---- requests -------------------------------------------------------- */

    /** Sends {type, data, correlation_id} (plus opts.extra at the top level);
     * resolves with the reply ('ack' or a result type), rejects with an
     * HMError (code from the server's error, or 'timeout', 'connection_lost',
     * 'offline', 'queue_full', 'closed'). While not live the request waits in
     * the offline queue unless opts.queue is false. */
    request(type, data, opts) {
      opts = opts || {};
      const msg = Object.assign({ type }, opts.extra || {});
      if (data !== undefined && data !== null) msg.data = data;
      msg.correlation_id = opts.correlationId || uuid4();
      const timeoutMs = opts.timeoutMs || this.requestTimeoutMs;
      return new Promise((resolve, reject) => {
        const job = { msg, resolve, reject, timeoutMs };
        if (this.state === 'live') return this._transmit(job);
        if (opts.queue === false || this.state === 'closed')
          return reject(new HMError('offline', 'not connected'));
        if (this.queue.length >= this.maxQueue) {
          const old = this.queue.shift();
          old.reject(new HMError('queue_full', 'too many messages waiting to be sent'));
        }
        this.queue.push(job);
        this.emit('queue', this.queue.length);
      });
    }

    /** Fire-and-forget: like request() but the reply is ignored. */
    send(type, data, opts) { this.request(type, data, opts).catch(() => {}); }

    _transmit(job) {
      const id = job.msg.correlation_id;
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        job.reject(new HMError('timeout', `no reply to ${job.msg.type} within ${job.timeoutMs} ms`));
      }, job.timeoutMs);
      this.pending.set(id, { resolve: job.resolve, reject: job.reject, timer, type: job.msg.type });
      try {
        this.ws.send(JSON.stringify(job.msg));
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        job.reject(new HMError('connection_lost', 'send failed'));
      }
    }

    _flushQueue() {
      const jobs = this.queue;
      this.queue = [];
      for (const job of jobs) this._transmit(job);
      this.emit('queue', 0);
    }

    _failPending(code, text) {
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new HMError(code, text));
      }
      this.pending.clear();
    }

    _failQueue(code, text) {
      const jobs = this.queue;
      this.queue = [];
      for (const j of jobs) j.reject(new HMError(code, text));
      if (jobs.length) this.emit('queue', 0);
    }

    /* ---- the socket ------------------------------------------------------ */

    _setState(state, info) {
      this.state = state;
      this.stateInfo = Object.assign({ state, attempt: this.attempt }, info || {});
      this.emit('state', this.stateInfo);
    }

    _clearTimers() {
      for (const k of Object.keys(this._timers)) { clearTimeout(this._timers[k]); clearInterval(this._timers[k]); }
      this._timers = {};
    }

    _teardown(code, reason) {
      const ws = this.ws;
      this.ws = null;
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { if (ws.readyState <= 1) ws.close(code === 1000 ? 1000 : 3000, reason); } catch (e) { /* ignore */ }
    }

    _open() {
      this._clearTimers();
      this._teardown(1000, 'reopening');
      const reconnecting = this.stats.connects > 0;
      this._setState('connecting', { reconnect: reconnecting });
      this.lastError = null;
      let ws;
      try {
        ws = new this.WS(this.url);
      } catch (e) {
        return this._closed(1006, String(e && e.message || e));
      }
      this.ws = ws;
      this._timers.connect = setTimeout(() => this._drop(3000, 'connect timeout'), this.connectTimeoutMs);
      ws.onopen = () => {
        this._setState('authenticating', { reconnect: reconnecting });
        ws.send(JSON.stringify({ type: 'authenticate', token: this.token }));
      };
      ws.onmessage = (ev) => this._onFrame(ev.data);
      ws.onerror = () => { /* onclose follows with the code */ };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this._closed(ev.code, ev.reason);
      };
    }

    /* Gives up on the current socket as if it closed with code. */
    _drop(code, reason) {
      this._teardown(code, reason);
      this._closed(code, reason);
    }

    _closed(code, reason) {
      this._clearTimers();
      const wasLive = this.state === 'live';
      this._failPending('connection_lost', `connection closed (${code})`);
      if (!this._wanted) return;
      const err = this.lastError;
      if (code === 4003 && this.refreshHook) {
        return this._refreshThen(() => this._schedule(code, 'session expired: renewing the token'));
      }
      if (STOP[code] && code !== 1000 || (code === 1000 && wasLive)) {
        this._wanted = false;
        this._failQueue('closed', STOP[code]);
        return this._setState('closed', {
          code, reason: (err && err.message) || reason || STOP[code], why: STOP[code],
          error: err && err.code,
        });
      }
      this._schedule(code, reason);
    }

    _schedule(code, reason) {
      const b = this.backoff;
      const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, this.attempt));
      // Jitter: a random part of the delay, so clients do not return in step.
      const delay = Math.round(base * (1 - b.jitter) + Math.random() * base * b.jitter);
      this.attempt++;
      this.stats.reconnects++;
      const retryAt = Date.now() + delay;
      this._timers.retry = setTimeout(() => this._open(), delay);
      this._setState('reconnecting', {
        code, reason: WHY[code] || reason || 'connection lost', retryAt, retryInMs: delay,
        queued: this.queue.length,
      });
    }

    _retryNow() {
      if (this.state !== 'reconnecting') return;
      this._clearTimers();
      this._open();
    }

    /** Reconnects now (skips the remaining backoff wait). */
    retryNow() { this._retryNow(); }

    _refreshThen(next) {
      Promise.resolve().then(() => this.refreshHook()).then((tok) => {
        if (tok) this.token = tok;
        next();
      }, (e) => {
        this._wanted = false;
        this._setState('closed', { code: 4003, reason: STOP[4003], error: String(e && e.message || e) });
      });
    }

    _startHeartbeat() {
      const every = Math.max(1000, this.heartbeatMs);
      this._lastRx = Date.now();
      this._timers.hb = setInterval(() => {
        if (!this.ws || this.state !== 'live') return;
        if (Date.now() - this._lastRx > every * 2.5) return this._drop(3000, 'server not answering');
        this.request('heartbeat', null, { queue: false, timeoutMs: every }).catch(() => {});
      }, every);
    }

    _onFrame(text) {
      let msg;
      try { msg = JSON.parse(text); } catch (e) { return; }
      if (!msg || typeof msg !== 'object') return;
      this._lastRx = Date.now();
      this.emit('message', msg);
      const cid = msg.correlation_id;
      switch (msg.type) {
        case 'welcome':
          this.connectionId = msg.connection_id || (msg.data && msg.data.connection_id) || null;
          if (msg.data && msg.data.heartbeat_interval) this.heartbeatMs = msg.data.heartbeat_interval * 1000;
          this.emit('welcome', msg);
          return;
        case 'authenticated':
          return this._onAuthenticated(msg);
        case 'error':
          if (cid && this.pending.has(cid)) break;
          this.lastError = { code: msg.code, message: msg.message };
          this.emit('error', msg);
          return;
        case 'token_expiring':
          this.emit('token_expiring', msg);
          if (this.refreshHook) this._refreshThen(() => this.setToken(this.token).catch(() => {}));
          return;
        case 'reconnect':
          this.emit('reconnect', msg);
          return;
      }
      if (cid && this.pending.has(cid)) {
        const p = this.pending.get(cid);
        this.pending.delete(cid);
        clearTimeout(p.timer);
        if (msg.type === 'error') p.reject(new HMError(msg.code || 'error', msg.message, msg));
        else p.resolve(msg);
        if (msg.type === 'heartbeat') this._noteHeartbeat(msg);
        return;
      }
      if (msg.type === 'heartbeat') return this._noteHeartbeat(msg);
      if (EVENT_TYPES.indexOf(msg.type) >= 0) return this._onEvent(msg);
      this.emit(msg.type, msg);
    }

    /* Heartbeats carry the latest seq of each stream ({"health_updates": 12,
     * "health_updates:7": 3, ...}): a stream with no seq yet starts there,
     * so that a reconnect resumes from it. */
    _noteHeartbeat(msg) {
      const seqs = msg.data && msg.data.seq;
      if (seqs && typeof seqs === 'object') {
        for (const [k, v] of Object.entries(seqs)) if (typeof v === 'number' && !this.base.has(k)) this.base.set(k, v);
      }
      this.emit('heartbeat', msg);
    }

    _onEvent(msg) {
      const key = this.streamKey(msg);
      if (key && typeof msg.seq === 'number') {
        const seen = this.seqs.get(key);
        if (seen != null && msg.seq <= seen) {
          this.stats.duplicatesDropped++;
          return;
        }
        // Seqs are dense per stream: a jump means events this client has not
        // seen (a conflated health tick, a muted notification, or lost ones).
        const from = this.resumeSeq(key);
        if (from != null && msg.seq > from + 1) this.emit('gap', { stream: key, from: from + 1, to: msg.seq - 1 });
        this.seqs.set(key, msg.seq);
      }
      this.stats.eventsReceived++;
      this.emit(msg.type, msg);
      this.emit('event', msg);
    }

    _onAuthenticated(msg) {
      clearTimeout(this._timers.connect);
      const d = msg.data || {};
      const first = this.stats.connects === 0;
      this.user = { user_id: msg.user_id || d.user_id, role: msg.role || d.role,
        connection_id: d.connection_id || this.connectionId, expires_at: d.expires_at };
      this.stats.connects++;
      // Re-key subscriptions given with the own user id.
      for (const [k, s] of Array.from(this.subs)) {
        if (s.user_id === this.user.user_id) { this.subs.delete(k); this.subs.set(this._key(s), s); }
      }
      this.attempt = 0;
      this._setState('live', { reconnect: !first });
      this.emit('authenticated', this.user);
      const subs = Array.from(this.subs.values()).map((s) => this._sendSub(s).catch((e) => {
        this.emit('subscribe_error', { subscription: s, error: e });
      }));
      this._flushQueue();
      this._startHeartbeat();
      Promise.all(subs).then(() => { if (!first) this.emit('resumed', { seqs: new Map(this.seqs) }); });
    }
  }

  HMClient.HMError = HMError;
  HMClient.uuid4 = uuid4;
  HMClient.STOP_CODES = STOP;
  HMClient.version = '1.0.0';
  return HMClient;
});
