/*
 * The dashboard page in headless Chromium against the real stack (broker,
 * hm-auth, hm-edge serving web/, and every channel service that is built).
 * Run with: node --test tests/browser/test/   (scripts/test does, via ctest)
 *
 * Environment: HM_BIN_DIR, HM_SHOTS_DIR (screenshots, default
 * <repo>/build/browser-shots), HM_DOCS_SHOT (also copy the dashboard
 * screenshot there), HM_TEST_SLOW, HM_KEEP_TEST_DIRS.
 */
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { Stack, sleep, waitFor, REPO, SLOW } = require('../lib/stack');
const { launch, record } = require('../lib/browser');
const { startFakeLlm } = require('../lib/fake-llm');
const demo = require('../lib/demo');

const SHOTS = process.env.HM_SHOTS_DIR || path.join(REPO, 'build/browser-shots');
const T = (ms) => ms * SLOW;

let st, llm, ctx, page, rec, uid, token;
let failed = false;

async function shot(name, p) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await (p || page).evaluate(() => { document.getElementById('toasts').textContent = ''; }).catch(() => {});
  const file = path.join(SHOTS, `${name}.png`);
  await (p || page).screenshot({ path: file });
  return file;
}

/* A test whose failure leaves a screenshot and the processes' logs. */
function it(name, fn) {
  test(name, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      await shot('FAIL-' + name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)).catch(() => {});
      throw e;
    }
  });
}

const $text = (sel) => page.locator(sel).first().textContent();
const count = (sel) => page.locator(sel).count();
const nav = async (view) => {
  await page.click(`.nav-item[data-view=${view}]`);
  await page.locator(`#view-${view}`).waitFor({ state: 'visible' });
};
const frames = (pred) => rec.received.filter((f) => pred(f.msg));
/* Sets a switch (a checkbox styled as a toggle) by clicking it like a person. */
async function setSwitch(id, on) {
  if ((await page.locator('#' + id).isChecked()) !== on) await page.locator(`label.switch:has(#${id}) span`).click();
  assert.equal(await page.locator('#' + id).isChecked(), on);
}

before(async () => {
  llm = await startFakeLlm({ chunkMs: 120 });
  st = new Stack({
    services: 'auto',
    serviceArgs: {
      notify: ['--resend-base-ms', '700', '--resend-factor', '1.5', '--resend-max', '30', '--flush-delay-ms', '100'],
      chat: ['--assistant', 'openai', '--openai-url', llm.url, '--openai-key', 'test-key'],
    },
  });
  await st.start();
  uid = await st.user('Pat Lee', 'patient');
  token = await st.token(uid);
  ctx = await launch();
  page = ctx.pages()[0] || (await ctx.newPage());
  rec = record(page);
  console.log(`# stack: services ${st.services.join(', ') || '(none)'}; page ${st.url}; screenshots in ${SHOTS}`);
});

after(async () => {
  if (failed && st) console.log(st.logs());
  if (ctx) await ctx.close();
  if (st) await st.stop();
  if (llm) await llm.close();
});

it('the page loads from the edge, refuses a bad token and signs in with a good one', async () => {
  await page.goto(st.url);
  await page.locator('#signin').waitFor({ state: 'visible' });
  assert.equal(await page.title(), 'HealthMate');

  await page.fill('#token-input', 'not-a-token');
  await page.click('#signin-btn');
  await page.locator('#signin-error', { hasText: 'Could not sign in' }).waitFor({ timeout: T(8000) });
  const st1 = await page.evaluate(() => HMApp.client.stateInfo);
  assert.equal(st1.state, 'closed', 'no reconnect after an auth failure');
  assert.equal(st1.code, 4002);

  await page.fill('#token-input', token);
  await shot('signin');
  await page.click('#signin-btn');
  await page.locator('#conn[data-state=live]').waitFor({ timeout: T(5000) });
  assert.equal(await $text('#conn-text'), 'Live');
  assert.equal(await $text('#me-role'), 'patient');
  assert.ok(await page.locator('#view-vitals').isVisible(), 'the vitals view is first');
  const subscribed = () => frames((m) => m.type === 'subscribed').map((f) => f.msg.subscription).sort();
  await waitFor(() => subscribed().length >= 3, 3000, 'three subscribed replies');
  assert.deepEqual(subscribed(), ['chat', 'health_updates', 'notifications']);
});

it('an injected reading shows within a second; readings through hm-health and alerts follow', async () => {
  const v = 88 + Math.floor(Math.random() * 8);
  const t0 = Date.now();
  await st.publish(`u.${uid}.health`, { type: 'health_update', user_id: uid,
    data: { id: 'injected-1', metric: 'heart_rate', value: v, unit: 'bpm', timestamp: new Date().toISOString() } });
  await page.waitForFunction((x) => {
    const el = document.querySelector('.vital[data-metric=heart_rate] .vital-value');
    return el && el.textContent.startsWith(String(x));
  }, v, { timeout: 1000, polling: 'raf' });
  const took = Date.now() - t0;
  console.log(`# injected reading on screen after ${took} ms (hm-bus pub included)`);
  assert.ok(took < 1000, `took ${took} ms`);

  if (!st.has('health')) return;
  const r = await demo.reading(st, uid, 'spo2', { value: 96, unit: '%' });
  await page.locator('.vital[data-metric=spo2] .vital-value', { hasText: '96' }).waitFor({ timeout: 1000 });
  assert.ok(r.seq > 0, 'hm-health assigned a seq');
  // History for the charts, then a reading above the threshold: an alert.
  await demo.seedVitals(st, uid, 12, 20, 1);
  await demo.reading(st, uid, 'heart_rate', { value: 131, unit: 'bpm' });
  await page.locator('#alert-list .alert-item').first().waitFor({ timeout: T(3000) });
  assert.match(await $text('#alert-list .alert-item .t'), /Heart rate high/);
  await page.waitForFunction(() => HMApp.vitals.readings('blood_pressure').length >= 30, null, { timeout: T(5000) });
  await demo.reading(st, uid, 'heart_rate', { value: 76, unit: 'bpm' });
  await sleep(1200);
  const file = await shot('dashboard');
  if (process.env.HM_DOCS_SHOT) fs.copyFileSync(file, process.env.HM_DOCS_SHOT);
});

it('chat: the typing indicator shows and the assistant\'s streamed reply arrives', async () => {
  await nav('chat');
  await page.evaluate(() => {
    window.__seen = { typing: false, streaming: false };
    const ti = document.getElementById('typing-indicator');
    const msgs = document.getElementById('messages');
    new MutationObserver(() => { if (!ti.hidden) window.__seen.typing = true; }).observe(ti, { attributes: true });
    new MutationObserver(() => { if (msgs.querySelector('.msg.streaming')) window.__seen.streaming = true; })
      .observe(msgs, { childList: true, subtree: true });
  });
  const question = 'How is my heart rate today?';
  await page.fill('#chat-input', question);
  await page.press('#chat-input', 'Enter');

  if (!st.has('chat')) {
    // No hm-chat: publish on the bus what it would (SPEC 8.2; no seq, so that
    // nothing is mistaken for a duplicate later): the question, typing, deltas, the reply.
    const conv = '00000000-0000-4000-8000-000000000001';
    const pub = (type, data) => st.publish(`u.${uid}.chat`, { type, user_id: uid, data: Object.assign({ conversation_id: conv }, data) });
    await pub('chat_message', { message_id: 'q-1', message: question, sender: 'user', sender_id: uid });
    await page.click(`.conv[data-conv="${conv}"]`);
    await pub('typing', { user_id: 0, sender: 'ai_assistant', typing: true });
    await sleep(300);
    const parts = llm.answer.match(/.{1,20}/g);
    for (let i = 0; i < parts.length; i++) await pub('chat_message_delta', { message_id: 'r-1', delta: parts[i], index: i });
    await pub('typing', { user_id: 0, sender: 'ai_assistant', typing: false });
    await pub('chat_message', { message_id: 'r-1', message: llm.answer, sender: 'ai_assistant', sender_id: 0 });
  }
  const reply = page.locator('.msg.them[data-sender=ai_assistant]:not(.streaming)', { hasText: 'normal resting range' });
  await reply.waitFor({ timeout: T(15000) });
  assert.equal((await reply.textContent()).includes(llm.answer), true, 'the whole answer');
  const seen = await page.evaluate(() => window.__seen);
  assert.ok(seen.typing, 'the typing indicator was shown');
  assert.ok(seen.streaming, 'the reply streamed in (chat_message_delta)');
  assert.ok(frames((m) => m.type === 'chat_message_delta').length >= 3, 'deltas arrived');
  if (st.has('chat')) assert.ok(llm.requests.length >= 1 && llm.requests[0].stream === true, 'hm-chat asked the backend to stream');
  assert.equal(await count(`.msg.me:has-text("${question}")`), 1, 'the question shows once (local bubble replaced)');
  await page.locator('#typing-indicator').waitFor({ state: 'hidden', timeout: T(2000) }); // typing stopped
  await shot('chat');
});

it('a critical notification shows up; acknowledging it stops its re-sends', async (t) => {
  assert.ok(st.has('notify'), 'hm-notify is built');
  await nav('notifications');
  const created = await demo.notify(st, uid, { type: 'health_alert', priority: 'critical', title: 'Heart rate critically high',
    message: '162 bpm at rest. If you feel chest pain or dizziness, call emergency services.' });
  const id = created.id;
  const item = page.locator(`.notif[data-id="${id}"]`);
  await item.waitFor({ timeout: T(2000) });
  await page.locator('#critical-banner', { hasText: 'Heart rate critically high' }).waitFor({ timeout: 1000 });
  const isResend = (m) => m.type === 'notification' && m.notification && m.notification.id === id && m.notification.resend;
  // Unacknowledged, it is sent again (with backoff) until acknowledged.
  await item.locator('.pill', { hasText: /sent [2-9]/ }).waitFor({ timeout: T(5000) });
  assert.ok(frames(isResend).length >= 1, 're-sent while unacknowledged');
  await shot('notifications');

  await item.locator('[data-action=ack]').click();
  await item.locator('.acked-label').waitFor({ timeout: T(3000) });
  const tAck = Date.now();
  assert.equal(await page.locator('#critical-banner').isHidden(), true, 'the banner goes with the ack');
  const ackSent = rec.sent.find((f) => f.msg.type === 'ack' && f.msg.data && f.msg.data.id === id);
  assert.ok(ackSent && ackSent.msg.correlation_id, 'ack sent with a correlation id');
  await sleep(T(5000)); // several re-send intervals
  const late = frames(isResend).filter((f) => f.t > tAck + 300);
  assert.equal(late.length, 0, `no re-sends after the ack (got ${late.length})`);
  const list = await st.request('notify', { type: 'notify.list', user_id: uid, data: { limit: 20 } });
  const row = list.data.notifications.find((n) => n.id === id);
  assert.equal(row.acked, true, 'hm-notify stored the ack');
});

it('preferences and reminders: save, create a medication reminder, answer it when it fires', async (t) => {
  assert.ok(st.has('notify') && st.has('scheduler'), 'hm-notify and hm-scheduler are built');
  await nav('notifications');
  await setSwitch('pref-system', false);
  await setSwitch('quiet-on', true);
  await page.fill('#quiet-start', '23:00');
  await page.click('#prefs-form button[type=submit]');
  await page.locator('#prefs-status', { hasText: 'Saved.' }).waitFor({ timeout: T(3000) });
  const prefs = await st.request('notify', { type: 'notify.prefs_get', user_id: uid, data: {} });
  assert.equal(prefs.data.preferences.types.system, false);
  assert.equal(prefs.data.preferences.quiet_hours.start, '23:00');
  // Back to everything on, no quiet hours (so the reminder below is delivered).
  await setSwitch('pref-system', true);
  await setSwitch('quiet-on', false);
  await page.click('#prefs-form button[type=submit]');
  await page.locator('#prefs-status', { hasText: 'Saved.' }).waitFor({ timeout: T(3000) });

  await nav('reminders');
  const at = new Date(Date.now() + 6000);
  const hhmmss = at.toISOString().slice(11, 19);
  await page.fill('#med-name', 'Vitamin D');
  await page.fill('#med-dose', '1000 IU');
  await page.fill('#med-times', hhmmss);
  await page.click('#rem-form button[type=submit]');
  await page.locator('#rem-status', { hasText: 'Reminder created.' }).waitFor({ timeout: T(3000) });
  await page.locator('#rem-rows tr', { hasText: 'Vitamin D' }).waitFor();
  // It fires: a medication_reminder notification with Taken / Skipped / Snooze.
  const due = page.locator('#due-list .notif', { hasText: 'Vitamin D' });
  await due.waitFor({ timeout: T(20000) });
  await shot('reminders');
  await due.locator('[data-answer=taken]').click();
  await due.locator('.acked-label', { hasText: 'Taken' }).first().waitFor({ timeout: T(3000) }).catch(() => {});
  await page.waitForFunction(() => Array.from(HMApp.notify.items.values()).some((x) => x.answer === 'taken'), null, { timeout: T(3000) });
  const hist = await st.request('scheduler', { type: 'scheduler.list', user_id: uid, data: { history: true } });
  assert.equal(hist.type, 'ack');
  assert.ok(JSON.stringify(hist.data).includes('taken'), 'hm-scheduler stored the answer');
});

it('edge killed: the page shows reconnecting; restarted: it resumes with what was missed, nothing doubled', async (t) => {
  await nav('chat');
  const conv = await page.evaluate(() => HMApp.chat.current);
  const before = await page.evaluate(() => ({ hr: HMApp.vitals.readings('respiratory_rate').length, connects: HMApp.client.stats.connects }));

  await st.killEdge();
  await page.locator('#conn[data-state=reconnecting]').waitFor({ timeout: T(3000) });
  assert.match(await $text('#conn-text'), /^Reconnecting in \d+ s$/);
  await shot('reconnecting');

  // While the page is away: readings, a notification, a message from another device.
  const missed = { readings: [], notif: null, chat: null };
  if (st.has('health')) {
    for (const v of [16, 17, 18]) missed.readings.push((await demo.reading(st, uid, 'respiratory_rate', { value: v, unit: 'breaths/min' })).id);
  }
  if (st.has('notify')) {
    missed.notif = (await demo.notify(st, uid, { type: 'system', priority: 'normal', title: 'While you were away',
      message: 'Your new blood pressure cuff was paired.' })).id;
  }
  if (st.has('chat') && conv) missed.chat = (await demo.chat(st, uid, 'Sent from my phone while the page was offline', conv)).message_id;
  // Typed in the page while disconnected: waits in the offline queue.
  await page.fill('#chat-input', 'Typed while offline');
  await page.press('#chat-input', 'Enter');
  await page.locator('.msg.me.pending', { hasText: 'Typed while offline' }).waitFor();
  assert.equal(await $text('#queue-pill'), '1 waiting to send');
  await sleep(T(1500)); // the assistant answers the phone's message meanwhile

  await st.startEdge();
  await page.locator('#conn[data-state=live]').waitFor({ timeout: T(15000) });
  assert.equal(await $text('#conn-text'), 'Live · resumed');
  // Every stream that had seen a seq resumes from it (without services, no event carries one).
  const resub = () => rec.sent.filter((f) => f.msg.type === 'subscribe' && f.msg.since_seq != null).length;
  const seqd = ['health', 'chat', 'notify'].filter((x) => st.has(x)).length;
  await waitFor(() => resub() >= seqd, 3000, `resubscribed with since_seq (${resub()} of ${seqd} streams)`);

  if (missed.readings.length) {
    await page.waitForFunction((ids) => {
      const have = HMApp.vitals.readings('respiratory_rate').map((r) => r.id);
      return ids.every((id) => have.includes(id));
    }, missed.readings, { timeout: T(5000) });
  }
  if (missed.notif) await page.locator(`#notif-list .notif[data-id="${missed.notif}"]`).waitFor({ state: 'attached', timeout: T(5000) });
  if (missed.chat) await page.locator(`.msg[data-id="${missed.chat}"]`).waitFor({ timeout: T(5000) });
  await page.locator('#queue-pill').waitFor({ state: 'hidden', timeout: T(5000) }); // the queue went out
  if (st.has('chat')) {
    await page.locator('.msg.me:not(.pending)', { hasText: 'Typed while offline' }).waitFor({ timeout: T(5000) });
    await page.waitForFunction(() => !document.querySelector('.msg.pending'), null, { timeout: T(5000) });
  }
  await sleep(T(1500)); // let any late duplicate arrive before counting

  // Nothing doubled: readings, notifications and messages each once.
  const dup = await page.evaluate(() => {
    const out = [];
    for (const m of ['heart_rate', 'blood_pressure', 'spo2', 'glucose', 'temperature', 'respiratory_rate']) {
      const ids = HMApp.vitals.readings(m).map((r) => r.id || r.seq);
      if (new Set(ids).size !== ids.length) out.push(`${m}: ${ids.length - new Set(ids).size} duplicate readings`);
    }
    const nIds = Array.from(document.querySelectorAll('#notif-list .notif')).map((e) => e.dataset.id);
    if (new Set(nIds).size !== nIds.length) out.push('duplicate notifications');
    const mIds = Array.from(document.querySelectorAll('#messages .msg[data-id]')).map((e) => e.dataset.id).filter(Boolean);
    if (new Set(mIds).size !== mIds.length) out.push('duplicate chat messages');
    const texts = Array.from(document.querySelectorAll('#messages .msg.me .bubble')).map((e) => e.textContent);
    if (texts.filter((x) => x === 'Typed while offline').length !== 1) out.push('offline message not shown exactly once');
    return out;
  });
  assert.deepEqual(dup, []);
  const after = await page.evaluate(() => ({ hr: HMApp.vitals.readings('respiratory_rate').length, connects: HMApp.client.stats.connects,
    dropped: HMApp.client.stats.duplicatesDropped }));
  assert.equal(after.connects, before.connects + 1, 'one reconnect');
  if (missed.readings.length) assert.equal(after.hr, before.hr + 3, 'exactly the three missed readings were added');
  console.log(`# resumed: client dropped ${after.dropped} duplicate event(s) the server sent`);
  await shot('resumed');
  void t;
});

it('a clinician sees the linked patients\' live vitals side by side', async () => {
  const doc = await st.user('Dr. Rivera', 'clinician');
  const other = await st.user('Sam Ortiz', 'patient');
  const stranger = await st.user('Not Linked', 'patient');
  await st.link(doc, uid);
  await st.link(doc, other);
  if (st.has('health')) await demo.seedVitals(st, other, 12, 30, 2);
  const p2 = await ctx.newPage();
  const rec2 = record(p2);
  await p2.goto(`${st.url}#token=${await st.token(doc)}`);
  await p2.locator('#conn[data-state=live]').waitFor({ timeout: T(5000) });
  await p2.locator('#view-patients').waitFor({ state: 'visible' });
  assert.equal(await p2.locator('#nav-patients').isVisible(), true);
  for (const id of [uid, other]) {
    await p2.fill('#patient-id', String(id));
    await p2.click('#patient-add button');
    await p2.locator(`.patient[data-patient="${id}"]`).waitFor({ timeout: T(5000) });
  }
  await p2.fill('#patient-id', String(stranger));
  await p2.click('#patient-add button');
  await p2.locator('#patient-status', { hasText: 'not linked to you' }).waitFor({ timeout: T(5000) });
  assert.equal(await p2.locator(`.patient[data-patient="${stranger}"]`).count(), 0);

  // Live: a reading of each patient shows in their own column.
  const t0 = Date.now();
  await Promise.all([
    demo.reading(st, uid, 'heart_rate', { value: 83, unit: 'bpm' }),
    demo.reading(st, other, 'heart_rate', { value: 67, unit: 'bpm' }),
  ]);
  await p2.locator(`.patient[data-patient="${uid}"] .mini[data-metric=heart_rate] .v`, { hasText: '83' }).waitFor({ timeout: 1500 });
  await p2.locator(`.patient[data-patient="${other}"] .mini[data-metric=heart_rate] .v`, { hasText: '67' }).waitFor({ timeout: 1500 });
  console.log(`# both patients updated after ${Date.now() - t0} ms`);
  await sleep(600);
  await shot('patients', p2);
  assert.deepEqual(rec2.errors, []);

  // A revoked token closes the connection (4011): no reconnect, the page says why.
  const tok = await p2.evaluate(() => HMApp.client.token);
  const jti = JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString()).jti;
  await st.authCli('revoke', jti);
  await p2.locator('#signin-error', { hasText: /revoked/ }).waitFor({ timeout: T(5000) });
  assert.equal((await p2.evaluate(() => HMApp.client.stateInfo)).code, 4011);
  await sleep(1500);
  assert.equal(await p2.evaluate(() => HMApp.client.state), 'closed', 'it did not reconnect');
  await p2.close();
});

it('the seed document\'s JavaScript client example works verbatim in the browser', async () => {
  const p3 = await ctx.newPage();
  await p3.goto(st.url);
  const logs = [];
  p3.on('console', (m) => logs.push(m.text()));
  const tok = await st.token(uid);
  // SEED.md "JavaScript Client Example", with only the URL's port and the token filled in.
  const seed = `
// Connect to health WebSocket
const ws = new WebSocket('ws://localhost:8000/ws/health');

// Authenticate
ws.onopen = function() {
    ws.send(JSON.stringify({
        type: 'authenticate',
        token: 'your_jwt_token_here'
    }));
};

// Handle messages
ws.onmessage = function(event) {
    const message = JSON.parse(event.data);
    
    switch(message.type) {
        case 'health_update':
            console.log('Health update:', message.data);
            break;
        case 'notification':
            console.log('Notification:', message.notification);
            break;
        case 'heartbeat':
            console.log('Heartbeat received');
            break;
    }
};

// Handle errors
ws.onerror = function(error) {
    console.error('WebSocket error:', error);
};

// Handle disconnection
ws.onclose = function(event) {
    console.log('WebSocket closed:', event.code, event.reason);
};`.replace('localhost:8000', `127.0.0.1:${st.port}`).replace('your_jwt_token_here', tok);
  await p3.evaluate((code) => { window.eval(code + '\nwindow.__seedWs = ws;'); }, seed);
  await p3.waitForFunction(() => window.__seedWs && window.__seedWs.readyState === 1, null, { timeout: T(3000) });
  await sleep(500); // authenticated and following the user's health stream
  await st.publish(`u.${uid}.health`, { type: 'health_update', user_id: uid,
    data: { metric: 'blood_pressure', value: 120, unit: 'mmHg', timestamp: '2024-01-01T00:00:00Z' } });
  await waitForLog(logs, /^Health update:/, T(3000));
  await p3.evaluate(() => window.__seedWs.close());
  await waitForLog(logs, /^WebSocket closed: 1005|^WebSocket closed: 1000/, T(3000));
  await p3.close();
});

async function waitForLog(logs, re, ms) {
  const end = Date.now() + ms;
  while (!logs.some((l) => re.test(l))) {
    if (Date.now() > end) throw new Error(`no console line matching ${re}; saw ${JSON.stringify(logs.slice(-5))}`);
    await sleep(50);
  }
}

it('the page stayed on its own origin (works offline: no CDN) with no script errors', async () => {
  const origin = st.url.replace(/\/$/, '');
  const foreign = rec.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
  const files = new Set(rec.requests.map((u) => u.replace(origin, '').replace(/[?#].*$/, '')));
  for (const f of ['/', '/style.css', '/hm-client.js', '/app.js']) assert.ok(files.has(f), `${f} served by the edge`);
  const errors = rec.errors.filter((e) => !/WebSocket connection to .* failed/.test(e) // expected while the edge was down
    && !/status of 404 .*\/demo\.json/.test(e)); // demo.json is only there in demo mode
  assert.deepEqual(errors, []);
});
