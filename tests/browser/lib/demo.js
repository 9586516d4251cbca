/*
 * demo.js - realistic data for the dashboard, fed through the services the
 * way the edge would (Majordomo requests with hm-bus req), or published on
 * the bus as the services would (SPEC 8.2) when a service is not running.
 */
'use strict';

/* Smooth, plausible values for minute m (0 = now, negative = past). */
function vitalsAt(m, seed) {
  const s = (x) => Math.sin(x + seed);
  const n = () => (Math.random() - 0.5);
  return {
    heart_rate: { value: Math.round(74 + 6 * s(m / 3) + 2 * n()), unit: 'bpm' },
    blood_pressure: (() => {
      const sys = Math.round(118 + 6 * s(m / 5) + 2 * n());
      return { value: sys, systolic: sys, diastolic: Math.round(77 + 4 * s(m / 4 + 1) + 1.5 * n()), unit: 'mmHg' };
    })(),
    spo2: { value: Math.round(97 + 1.2 * s(m / 2) + 0.6 * n()), unit: '%' },
    glucose: { value: Math.round(104 + 18 * s(m / 6 + 2) + 3 * n()), unit: 'mg/dL' },
    temperature: { value: +(36.7 + 0.15 * s(m / 7) + 0.05 * n()).toFixed(1), unit: 'C' },
    respiratory_rate: { value: Math.round(15 + 1.5 * s(m / 3 + 3) + 0.6 * n()), unit: 'breaths/min' },
  };
}

async function pool(items, n, fn) {
  const queue = items.slice();
  const workers = Array.from({ length: n }, async () => {
    while (queue.length) await fn(queue.shift());
  });
  await Promise.all(workers);
}

/* A reading for uid through hm-health (stored, seq, thresholds, alerts). */
async function reading(st, uid, metric, v, when) {
  const data = Object.assign({ metric, timestamp: new Date(when || Date.now()).toISOString() }, v);
  if (st.has('health')) {
    const rep = await st.request('health', { type: 'health.reading', user_id: uid, data });
    if (rep.type !== 'ack') throw new Error(`health.reading refused: ${JSON.stringify(rep.data)}`);
    return rep.data;
  }
  // No hm-health: publish the event as it would (no seq: never deduplicated).
  const ev = Object.assign({ id: `demo-${metric}-${Date.now()}-${Math.random()}`, source: 'client' }, data);
  await st.publish(`u.${uid}.health`, { type: 'health_update', user_id: uid, data: ev });
  return ev;
}

/* minutes of history every stepS seconds, for every metric. */
async function seedVitals(st, uid, minutes, stepS, seed) {
  const jobs = [];
  const now = Date.now();
  for (let t = now - minutes * 60000; t <= now - 1000; t += stepS * 1000) {
    const vs = vitalsAt((t - now) / 60000, seed || 0);
    for (const [metric, v] of Object.entries(vs)) jobs.push([metric, v, t]);
  }
  await pool(jobs, 8, ([metric, v, t]) => reading(st, uid, metric, v, t));
  return jobs.length;
}

/* One reading of every metric now. */
async function tickVitals(st, uid, seed) {
  const vs = vitalsAt(0, seed || 0);
  await Promise.all(Object.entries(vs).map(([m, v]) => reading(st, uid, m, v)));
}

/* A notification through hm-notify (as a service asks: envelope user_id 0). */
async function notify(st, uid, n) {
  if (st.has('notify')) {
    const rep = await st.request('notify', { type: 'notify.create', user_id: 0, data: Object.assign({ user_id: uid }, n) });
    if (rep.type !== 'ack') throw new Error(`notify.create refused: ${JSON.stringify(rep.data)}`);
    return rep.data;
  }
  throw new Error('hm-notify is not running');
}

async function reminder(st, uid, data) {
  const rep = await st.request('scheduler', { type: 'scheduler.create', user_id: uid, data });
  if (rep.type !== 'ack') throw new Error(`scheduler.create refused: ${JSON.stringify(rep.data)}`);
  return rep.data.reminder;
}

async function chat(st, uid, message, conversationId) {
  const data = { message };
  if (conversationId) data.conversation_id = conversationId;
  const rep = await st.request('chat', { type: 'chat.send', user_id: uid, data });
  if (rep.type !== 'ack') throw new Error(`chat.send refused: ${JSON.stringify(rep.data)}`);
  return rep.data;
}

module.exports = { vitalsAt, reading, seedVitals, tickVitals, notify, reminder, chat, pool };
