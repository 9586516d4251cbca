/*
 * hm-client.js on its own, in Node: the protocol logic against a scripted
 * fake socket (order of messages, correlation, dedupe, resume, backoff,
 * close codes, offline queue, heartbeats, token refresh), then against the
 * real broker + hm-auth + hm-edge (token refresh on a live connection).
 */
'use strict';
const { test, describe, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { Stack, sleep, waitFor } = require('../lib/stack');
const HMClient = require(path.join(__dirname, '../../../web/hm-client.js'));

/* A WebSocket the test drives by hand. */
class FakeWS {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWS.all.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code) { this.readyState = 3; this.closedWith = code; }
  /* server side */
  open() { this.readyState = 1; this.onopen(); }
  recv(msg) { this.onmessage({ data: JSON.stringify(msg) }); }
  drop(code) { this.readyState = 3; if (this.onclose) this.onclose({ code, reason: '' }); }
  last(type) { return this.sent.filter((m) => m.type === type).pop(); }
  types() { return this.sent.map((m) => m.type); }
  /* Accepts authentication and answers the subscriptions. */
  accept(userId, subSeq) {
    this.open();
    this.recv({ type: 'welcome', connection_id: 'c-' + FakeWS.all.length, data: { heartbeat_interval: 30 } });
    this.recv({ type: 'authenticated', user_id: userId || 1, role: 'patient', data: { connection_id: 'c' } });
    for (const m of this.sent.filter((x) => x.type === 'subscribe')) {
      const r = { type: 'subscribed', subscription: m.subscription, correlation_id: m.correlation_id };
      if (subSeq != null) r.seq = subSeq;
      this.recv(r);
    }
  }
}
FakeWS.all = [];
const newest = () => FakeWS.all[FakeWS.all.length - 1];

const clients = [];
afterEach(() => { while (clients.length) clients.pop().close(); }); // no timer outlives its test

function client(extra) {
  FakeWS.all = [];
  return track(new HMClient(Object.assign({ url: 'ws://fake/ws/combined', token: 'T1', WebSocket: FakeWS,
    backoff: { initialMs: 20, maxMs: 160, factor: 2, jitter: 0.5 }, requestTimeoutMs: 300 }, extra || {})));
}
function track(c) { clients.push(c); return c; }

describe('hm-client.js with a scripted socket', () => {
  test('authenticates first, then subscribes to every stream, then sends what was queued, in order', async () => {
    const c = client();
    const order = [];
    c.request('chat_message', { message: 'typed before connecting' }).then((r) => order.push(r.type));
    c.connect();
    const ws = newest();
    ws.accept(1);
    assert.deepEqual(ws.types(), ['authenticate', 'subscribe', 'subscribe', 'subscribe', 'chat_message']);
    assert.equal(ws.sent[0].token, 'T1');
    assert.deepEqual(ws.sent.slice(1, 4).map((m) => m.subscription), ['health_updates', 'chat', 'notifications']);
    const cm = ws.last('chat_message');
    assert.ok(cm.correlation_id && cm.data.message === 'typed before connecting');
    ws.recv({ type: 'ack', data: { message_id: 'm1' }, correlation_id: cm.correlation_id });
    await sleep(0);
    assert.deepEqual(order, ['ack']);
    assert.equal(c.state, 'live');
    c.close();
  });

  test('replies are matched by correlation id; errors reject with their code; silence times out', async () => {
    const c = client();
    c.connect();
    const ws = newest();
    ws.accept(1);
    const a = c.request('get_preferences', {});
    const b = c.request('reminder_delete', { reminder_id: 'x' });
    const t = c.request('health_sync', {}, { timeoutMs: 50 });
    const [ma, mb] = ws.sent.slice(-3);
    ws.recv({ type: 'error', code: 'not_found', message: 'no such reminder', correlation_id: mb.correlation_id });
    ws.recv({ type: 'ack', data: { preferences: {} }, correlation_id: ma.correlation_id });
    assert.equal((await a).type, 'ack');
    await assert.rejects(b, (e) => e.code === 'not_found' && e.message === 'no such reminder');
    await assert.rejects(t, (e) => e.code === 'timeout');
    c.close();
  });

  test('events already seen (by seq, per stream) are dropped; ephemeral ones never are', () => {
    const c = client();
    const got = [];
    c.on('event', (m) => got.push(`${m.type}:${m.seq == null ? '-' : m.seq}`));
    c.connect();
    const ws = newest();
    ws.accept(1);
    const hu = (seq, user) => ({ type: 'health_update', seq, user_id: user || 1, data: { metric: 'heart_rate', value: 70 } });
    ws.recv(hu(5)); ws.recv(hu(5)); ws.recv(hu(4)); ws.recv(hu(6));
    ws.recv(hu(5, 7)); // another user's stream (a linked patient) has its own seqs
    ws.recv({ type: 'chat_message', seq: 5, user_id: 1, data: {} }); // chat: its own seqs
    ws.recv({ type: 'typing', user_id: 1, data: { typing: true } });
    ws.recv({ type: 'typing', user_id: 1, data: { typing: true } });
    ws.recv({ type: 'notification', seq: 2, user_id: 1, notification: { id: 'a' } });
    ws.recv({ type: 'notification', seq: 2, notification: { id: 'b' } }); // all.notify: a global seq
    ws.recv({ type: 'notification', notification: { id: 'a', resend: 1 } }); // a re-send: no seq
    assert.deepEqual(got, ['health_update:5', 'health_update:6', 'health_update:5', 'chat_message:5', 'typing:-', 'typing:-',
      'notification:2', 'notification:2', 'notification:-']);
    assert.equal(c.stats.duplicatesDropped, 2);
    assert.equal(c.lastSeq('health_updates'), 6);
    assert.equal(c.lastSeq('health_updates:7'), 5);
    c.close();
  });

  test('a jump in a stream\'s seq is reported as a gap (the app can fetch what is missing)', async () => {
    const c = client();
    const gaps = [];
    c.on('gap', (g) => gaps.push(g));
    c.connect();
    const ws = newest();
    ws.accept(1, 10); // every stream stood at 10 when followed
    await sleep(0);
    ws.recv({ type: 'chat_message', seq: 11, user_id: 1, data: {} });
    ws.recv({ type: 'chat_message', seq: 14, user_id: 1, data: {} });
    ws.recv({ type: 'health_update', seq: 12, user_id: 1, data: {} });
    assert.deepEqual(gaps, [{ stream: 'chat', from: 12, to: 13 }, { stream: 'health_updates', from: 11, to: 11 }]);
  });

  test('after a lost connection it reconnects and resubscribes with since_seq per stream', async () => {
    const c = client({ subscriptions: ['health_updates', 'chat', 'notifications', { subscription: 'health_updates', user_id: 7 }] });
    const states = [];
    c.on('state', (s) => states.push(s.state));
    let resumed = 0;
    c.on('resumed', () => resumed++);
    c.connect();
    let ws = newest();
    ws.accept(1, 3); // subscribed says each stream stood at seq 3
    ws.recv({ type: 'health_update', seq: 9, user_id: 1, data: {} });
    ws.recv({ type: 'health_update', seq: 4, user_id: 7, data: {} });
    const inflight = c.request('chat_message', { message: 'in flight' });
    ws.drop(1006);
    await assert.rejects(inflight, (e) => e.code === 'connection_lost');
    assert.equal(c.state, 'reconnecting');
    assert.match(c.stateInfo.reason, /connection lost/);
    c.request('chat_message', { message: 'typed while away' }).catch(() => {});
    await waitFor(() => FakeWS.all.length === 2, 2000, 'a new socket');
    ws = newest();
    ws.accept(1);
    const since = Object.fromEntries(ws.sent.filter((m) => m.type === 'subscribe')
      .map((m) => [m.subscription + (m.user_id ? ':' + m.user_id : ''), m.since_seq]));
    assert.deepEqual(since, { health_updates: 9, chat: 3, notifications: 3, 'health_updates:7': 4 });
    assert.equal(ws.last('chat_message').data.message, 'typed while away');
    await sleep(0);
    assert.equal(resumed, 1);
    assert.deepEqual(states, ['connecting', 'authenticating', 'live', 'reconnecting', 'connecting', 'authenticating', 'live']);
    c.close();
  });

  test('backoff grows exponentially with jitter up to the cap', async () => {
    const c = client();
    const delays = [];
    c.on('state', (s) => { if (s.state === 'reconnecting') delays.push(s.retryInMs); });
    c.connect();
    for (let i = 0; i < 6; i++) {
      newest().drop(1006);
      await waitFor(() => FakeWS.all.length === i + 2, 2000, 'next attempt');
    }
    c.close();
    const bases = [20, 40, 80, 160, 160, 160];
    delays.forEach((d, i) => assert.ok(d >= bases[i] / 2 && d <= bases[i], `attempt ${i}: ${d} ms not in [${bases[i] / 2}, ${bases[i]}]`));
  });

  for (const [code, stop] of [[4002, true], [4003, true], [4004, true], [4009, true], [4011, true], [4029, true],
    [1001, false], [1006, false], [1011, false], [1012, false], [4001, false], [4008, false], [4010, false]]) {
    test(`close ${code}: ${stop ? 'stops and says why' : 'reconnects'}`, async () => {
      const c = client();
      c.connect();
      const ws = newest();
      ws.accept(1);
      const queued = [];
      ws.drop(code);
      if (stop) {
        assert.equal(c.state, 'closed');
        assert.ok(c.stateInfo.why, 'a reason for people');
        await assert.rejects(c.request('chat_message', { message: 'x' }), (e) => e.code === 'offline');
        await sleep(60);
        assert.equal(FakeWS.all.length, 1, 'no new connection');
      } else {
        assert.equal(c.state, 'reconnecting');
        await waitFor(() => FakeWS.all.length === 2, 2000, 'a reconnect');
      }
      void queued;
      c.close();
    });
  }

  test('an auth failure before going live stops with the server\'s message', () => {
    const c = client();
    c.connect();
    const ws = newest();
    ws.open();
    ws.recv({ type: 'error', code: 'token_expired', message: 'the token has expired' });
    ws.drop(4002);
    assert.equal(c.state, 'closed');
    assert.equal(c.stateInfo.error, 'token_expired');
    assert.equal(c.stateInfo.reason, 'the token has expired');
  });

  test('token refresh hook: on token_expiring it sends refresh_token; on close 4003 it reconnects with the new token', async () => {
    let n = 0;
    const c = client({ refreshToken: async () => `T${++n + 1}` });
    c.connect();
    let ws = newest();
    ws.accept(1);
    ws.recv({ type: 'token_expiring', data: { expires_at: 1, seconds_left: 30 } });
    await waitFor(() => ws.last('refresh_token'), 1000, 'refresh_token');
    assert.equal(ws.last('refresh_token').token, 'T2');
    ws.drop(4003);
    await waitFor(() => FakeWS.all.length === 2, 2000, 'a reconnect');
    ws = newest();
    ws.open();
    assert.equal(ws.last('authenticate').token, 'T3');
    c.close();
  });

  test('a silent server is given up on and the client reconnects', async () => {
    const c = client();
    c.heartbeatMs = 1000;
    c.connect();
    const ws = newest();
    ws.open();
    ws.recv({ type: 'authenticated', user_id: 1, role: 'patient', data: {} });
    await waitFor(() => ws.last('heartbeat'), 2000, 'a heartbeat');
    const drop = new Promise((resolve) => c.on('state', (s) => { if (s.state === 'reconnecting') resolve(s); }));
    const s = await Promise.race([drop, sleep(4500).then(() => null)]);
    assert.ok(s, 'dropped within 2.5 heartbeat intervals of silence');
    assert.equal(s.code, 3000);
    assert.equal(s.reason, 'server not answering');
    c.close();
  });

  test('the offline queue is bounded: the oldest waiting message fails first', async () => {
    const c = client({ maxQueue: 2 });
    c.connect();
    const a = c.request('chat_message', { message: 'a' });
    c.request('chat_message', { message: 'b' }).catch(() => {});
    c.request('chat_message', { message: 'c' }).catch(() => {});
    await assert.rejects(a, (e) => e.code === 'queue_full');
    assert.equal(c.queue.length, 2);
    c.close();
  });
});

test('hm-client.js against the real edge: refreshes its token before it expires (Node WebSocket)', async (t) => {
  assert.equal(typeof WebSocket, 'function', 'this Node has WebSocket (run with --experimental-websocket)');
  const st = await new Stack({ services: [], edgeArgs: ['--token-warn-ms', '60000'] }).start();
  try {
    const uid = await st.user('Node Client');
    const short = await st.token(uid, 62); // expires within the warning window: token_expiring soon
    const fresh = await st.token(uid, 3600);
    let asked = 0;
    const c = track(new HMClient({ url: `ws://127.0.0.1:${st.port}/ws/combined`, token: short, refreshToken: async () => { asked++; return fresh; } }));
    const refreshed = new Promise((resolve) => c.on('token_refreshed', resolve));
    c.connect();
    await waitFor(() => c.state === 'live', 5000, 'live');
    const msg = await Promise.race([refreshed, sleep(8000).then(() => null)]);
    assert.ok(msg, 'token_refreshed arrived');
    assert.equal(asked, 1);
    assert.ok(msg.data.expires_at > Date.now() / 1000 + 3000, 'the new expiry');
    const hb = await c.request('heartbeat');
    assert.equal(hb.type, 'heartbeat');
    c.close();
  } finally {
    await st.stop();
  }
});
