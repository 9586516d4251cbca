/*
 * app-vitals.js - live vitals: a chart per metric over the last minutes,
 * alerts as they come, logging a reading; and for clinicians and caregivers
 * the linked patients' vitals side by side.
 */
(function () {
  'use strict';
  const App = window.HMApp;
  const { $, $$, h } = App;

  const METRICS = {
    heart_rate: { label: 'Heart rate', unit: 'bpm', color: '#d93f4c', band: [60, 100], range: [55, 105], dp: 0, icon: '♥' },
    blood_pressure: { label: 'Blood pressure', unit: 'mmHg', color: '#7048e8', color2: '#b197fc', band: [60, 120], range: [60, 130], dp: 0, icon: '⊕' },
    spo2: { label: 'Oxygen saturation', unit: '%', color: '#2f6fe4', band: [95, 100], range: [92, 100], dp: 0, icon: 'O₂' },
    glucose: { label: 'Blood glucose', unit: 'mg/dL', color: '#e07b16', band: [70, 140], range: [70, 150], dp: 0, icon: '◆' },
    temperature: { label: 'Temperature', unit: '°C', color: '#c2410c', band: [36.1, 37.2], range: [36, 37.5], dp: 1, icon: '°' },
    respiratory_rate: { label: 'Respiratory rate', unit: 'br/min', color: '#0e8f86', band: [12, 20], range: [10, 22], dp: 0, icon: '≈' },
    weight: { label: 'Weight', unit: 'kg', color: '#475569', dp: 1, icon: '⚖' },
    steps: { label: 'Steps', unit: 'steps', color: '#16a34a', dp: 0, icon: '⇡' },
    sleep_minutes: { label: 'Sleep', unit: 'min', color: '#4f46e5', dp: 0, icon: '☾' },
  };
  const DEFAULT_METRICS = ['heart_rate', 'blood_pressure', 'spo2', 'glucose', 'temperature', 'respiratory_rate'];
  const MINI_METRICS = ['heart_rate', 'blood_pressure', 'spo2', 'temperature'];
  const KEEP_MS = 2 * 3600 * 1000;

  const V = {
    name: 'vitals',
    windowMin: Number(localStorage.getItem('hm.window')) || 10,
    series: new Map(),     // `${uid}|${metric}` -> [{t, v, v2, id, seq}]
    seen: new Map(),       // uid -> Set of reading ids/seqs (dedupe)
    alerts: [],
    cards: new Map(),      // metric -> {el, canvas, value, age, foot}
    patients: [],          // watched patient ids
    patientEls: new Map(), // uid -> {el, minis: Map(metric -> {...})}
    dirty: new Set(),
  };

  function meta(metric) {
    return METRICS[metric] || { label: metric.replace(/_/g, ' '), unit: '', color: '#0e8f86', dp: 1, icon: '•' };
  }
  function myId() { return App.me ? App.me.user_id : 0; }
  function fmtVal(m, p) {
    if (!p) return '–';
    const d = meta(m).dp;
    if (m === 'blood_pressure' && isFinite(p.v2)) return `${Math.round(p.v)}/${Math.round(p.v2)}`;
    return Number(p.v).toFixed(d);
  }

  /* ---- data ---- */

  function addReading(uid, r, fallbackTs) {
    if (!r || !r.metric) return false;
    const m = r.metric;
    let v = r.systolic != null ? Number(r.systolic) : Number(r.value);
    const v2 = r.diastolic != null ? Number(r.diastolic) : NaN;
    if (!isFinite(v)) return false;
    const key = r.id != null ? 'id:' + r.id : r.seq != null ? 'seq:' + r.seq : null;
    if (!V.seen.has(uid)) V.seen.set(uid, new Set());
    const seen = V.seen.get(uid);
    if (key && seen.has(key)) return false;
    if (key) seen.add(key);
    if (r.id != null && r.seq != null) seen.add('seq:' + r.seq);
    let t = App.parseTime(r.timestamp);
    if (!isFinite(t)) t = App.parseTime(fallbackTs);
    if (!isFinite(t)) t = Date.now();
    const sk = uid + '|' + m;
    if (!V.series.has(sk)) V.series.set(sk, []);
    const arr = V.series.get(sk);
    arr.push({ t, v, v2, id: r.id, seq: r.seq, rx: Date.now() });
    if (arr.length > 1 && arr[arr.length - 2].t > t) arr.sort((a, b) => a.t - b.t);
    while (arr.length > 5000 || (arr.length && arr[0].t < Date.now() - KEEP_MS)) arr.shift();
    V.dirty.add(sk);
    return true;
  }

  function latest(uid, m) {
    const arr = V.series.get(uid + '|' + m);
    if (!arr || !arr.length) return null;
    return arr.reduce((a, b) => (b.rx > a.rx || (b.rx === a.rx && b.t >= a.t) ? b : a));
  }

  function chartOpts(uid, m, compact) {
    const mt = meta(m);
    const arr = V.series.get(uid + '|' + m) || [];
    const t1 = Date.now();
    const t0 = t1 - V.windowMin * 60000;
    const series = [{ points: arr.map((p) => ({ t: p.t, v: p.v })), color: mt.color, label: mt.label }];
    if (m === 'blood_pressure') series.push({ points: arr.filter((p) => isFinite(p.v2)).map((p) => ({ t: p.t, v: p.v2 })), color: mt.color2 });
    return { t0, t1, series, band: mt.band, range: compact ? null : mt.range, compact,
      empty: compact ? '' : `No readings in the last ${V.windowMin} min` };
  }

  /* ---- own vitals view ---- */

  function card(m) {
    if (V.cards.has(m)) return V.cards.get(m);
    const mt = meta(m);
    const value = h('div', { class: 'vital-value' }, '–');
    const age = h('span', { class: 'vital-age' });
    const canvas = h('canvas');
    const foot = h('div', { class: 'vital-foot' });
    const el = h('div', { class: 'card vital', dataset: { metric: m } },
      h('div', { class: 'vital-top' },
        h('span', { class: 'vital-icon', style: `background:${mt.color}1a;color:${mt.color}` }, mt.icon),
        h('span', { class: 'vital-label' }, mt.label), age),
      value, canvas, foot);
    const grid = $('#vitals-grid');
    // Default metrics keep their order; others follow as they appear.
    const idx = DEFAULT_METRICS.indexOf(m);
    const after = Array.from(grid.children).find((c) => {
      const j = DEFAULT_METRICS.indexOf(c.dataset.metric);
      return idx >= 0 && (j < 0 || j > idx);
    });
    grid.insertBefore(el, after || null);
    const c = { el, canvas, value, age, foot };
    V.cards.set(m, c);
    return c;
  }

  function renderCard(m, flash) {
    const c = card(m);
    const uid = myId();
    const p = latest(uid, m);
    const mt = meta(m);
    c.value.textContent = '';
    c.value.append(fmtVal(m, p), h('span', { class: 'unit' }, p ? mt.unit : ''));
    if (flash && p) { c.value.classList.remove('flash'); void c.value.offsetWidth; c.value.classList.add('flash'); }
    c.age.textContent = p ? App.ago(p.t) : '';
    const arr = (V.series.get(uid + '|' + m) || []).filter((x) => x.t >= Date.now() - V.windowMin * 60000);
    c.el.dataset.count = String((V.series.get(uid + '|' + m) || []).length);
    if (arr.length) {
      const vs = arr.map((x) => x.v);
      c.foot.textContent = '';
      c.foot.append(h('span', null, `${arr.length} reading${arr.length === 1 ? '' : 's'}`),
        h('span', null, `min ${Math.min(...vs).toFixed(mt.dp)} · max ${Math.max(...vs).toFixed(mt.dp)}`));
    } else c.foot.textContent = p ? `Last reading ${App.fmtTime(p.t)}` : 'Waiting for readings';
    if (!$('#view-vitals').hidden) HMChart.draw(c.canvas, chartOpts(uid, m));
  }

  function renderAlerts() {
    const list = $('#alert-list');
    // Active: the newest alert of each patient and metric is not "back to normal".
    const newest = new Map();
    for (const a of V.alerts) { const k = a.uid + '|' + a.data.metric; if (!newest.has(k)) newest.set(k, a); }
    const active = Array.from(newest.values()).filter((a) => a.state !== 'normal').length;
    $('#alert-count').textContent = String(active);
    $('#alert-count').className = 'pill ' + (active ? 'critical' : 'ok');
    list.textContent = '';
    if (!V.alerts.length) list.append(h('div', { class: 'empty' }, 'No alerts. Readings are within your ranges.'));
    for (const a of V.alerts.slice(0, 50)) {
      const d = a.data;
      const sev = d.state === 'normal' ? 'normal' : (d.severity === 'critical' ? 'critical' : 'warning');
      const mt = meta(d.metric || '');
      list.append(h('div', { class: 'alert-item ' + sev, dataset: { seq: a.seq != null ? a.seq : '' } },
        h('div', { class: 'bar' }),
        h('div', null,
          h('div', { class: 't' }, d.state === 'normal' ? `${mt.label} back to normal` :
            `${mt.label} ${d.direction === 'low' ? 'low' : 'high'}${d.severity ? ' · ' + d.severity : ''}`),
          h('div', { class: 'm' }, d.message || `${d.value} ${d.unit || ''} (threshold ${d.threshold})`),
          h('div', { class: 'when' }, App.fmtTime(a.t) + (a.uid !== myId() ? ` · patient #${a.uid}` : '')))));
    }
    for (const m of V.cards.keys()) {
      const a = newest.get(myId() + '|' + m);
      V.cards.get(m).el.classList.toggle('alerting', !!(a && a.state !== 'normal' && Date.now() - a.t < 10 * 60000));
    }
  }

  function addAlert(msg) {
    const d = msg.data || {};
    const uid = msg.user_id || myId();
    const key = d.id != null ? 'a:' + d.id : msg.seq != null ? 'as:' + msg.seq : null;
    if (key && V.alerts.some((a) => a.key === key && a.uid === uid)) return;
    const t = App.parseTime(d.timestamp) || App.parseTime(msg.timestamp) || Date.now();
    V.alerts.unshift({ key, uid, data: d, state: d.state, seq: msg.seq, t: isFinite(t) ? t : Date.now() });
    V.alerts.length = Math.min(V.alerts.length, 200);
    renderAlerts();
    if (uid !== myId()) renderPatient(uid);
  }

  /* ---- patients side by side ---- */

  function patientsKey() { return 'hm.patients.' + myId(); }
  function loadPatients() {
    try { return JSON.parse(localStorage.getItem(patientsKey()) || '[]').map(Number).filter((x) => x > 0); } catch (e) { return []; }
  }
  function savePatients() { localStorage.setItem(patientsKey(), JSON.stringify(V.patients)); }

  function patientEl(uid) {
    if (V.patientEls.has(uid)) return V.patientEls.get(uid);
    const minis = new Map();
    const status = h('span', { class: 'pill ok' }, 'stable');
    const el = h('div', { class: 'card patient', dataset: { patient: uid } },
      h('div', { class: 'patient-head' }, h('span', { class: 'avatar' }, '#'),
        h('div', null, h('div', { class: 'strong' }, `Patient #${uid}`), h('div', { class: 'small muted' }, 'live')),
        h('div', { class: 'spacer' }), status,
        h('button', { class: 'btn ghost small', type: 'button', title: 'Stop watching', onclick: () => removePatient(uid) }, '×')));
    for (const m of MINI_METRICS) {
      const mt = meta(m);
      const v = h('span', { class: 'v', style: `color:${mt.color}` }, '–');
      const c = h('canvas');
      el.append(h('div', { class: 'mini', dataset: { metric: m } },
        h('div', { class: 'mini-top' }, h('span', { class: 'small strong' }, mt.label), v, h('span', { class: 'small muted' }, mt.unit)), c));
      minis.set(m, { v, c });
    }
    $('#patients').append(el);
    const p = { el, minis, status };
    V.patientEls.set(uid, p);
    return p;
  }

  function renderPatient(uid) {
    const p = patientEl(uid);
    for (const [m, x] of p.minis) {
      x.v.textContent = fmtVal(m, latest(uid, m));
      if (!$('#view-patients').hidden) HMChart.draw(x.c, chartOpts(uid, m, true));
    }
    const hot = V.alerts.find((a) => a.uid === uid && Date.now() - a.t < 10 * 60000); // the newest
    const crit = hot && hot.state !== 'normal';
    p.status.className = 'pill ' + (crit ? (hot.data.severity === 'critical' ? 'critical' : 'warning') : 'ok');
    p.status.textContent = crit ? `${meta(hot.data.metric || '').label} ${hot.data.direction || ''}` : 'stable';
  }

  function addPatient(uid) {
    if (!(uid > 0) || uid === myId() || V.patients.includes(uid)) return;
    const st = $('#patient-status');
    st.className = 'status-line';
    st.textContent = `Connecting to patient #${uid}…`;
    App.client.subscribe({ subscription: 'health_updates', user_id: uid }).then(() => {
      V.patients.push(uid);
      savePatients();
      renderPatient(uid);
      st.textContent = '';
      loadHistory(uid);
    }, (e) => {
      App.client.unsubscribe({ subscription: 'health_updates', user_id: uid }).catch(() => {});
      st.className = 'status-line err';
      st.textContent = `Patient #${uid}: ${e.code === 'forbidden' ? 'not linked to you' : App.errText(e)}`;
    });
  }

  function removePatient(uid) {
    V.patients = V.patients.filter((x) => x !== uid);
    savePatients();
    const p = V.patientEls.get(uid);
    if (p) p.el.remove();
    V.patientEls.delete(uid);
    if (App.client) App.client.unsubscribe({ subscription: 'health_updates', user_id: uid }).catch(() => {});
  }

  /* ---- history, events, loop ---- */

  function loadHistory(uid) {
    const c = App.client;
    const data = { since: Date.now() - Math.max(V.windowMin, 60) * 60000, limit: 500 };
    if (uid !== myId()) data.user_id = uid;
    c.request('health_sync', data, { queue: false, timeoutMs: 12000 }).then((rep) => {
      const rs = (rep.data && rep.data.readings) || [];
      for (const r of rs) addReading(uid, r);
      refresh();
    }, () => { /* history is optional: the live stream still works */ });
  }

  function onUpdate(msg) {
    const uid = msg.user_id || myId();
    const d = Object.assign({}, msg.data || {});
    if (d.seq == null && msg.seq != null) d.seq = msg.seq;
    if (!addReading(uid, d, msg.timestamp)) return;
    if (uid === myId()) renderCard(d.metric, true);
    else if (V.patients.includes(uid)) renderPatient(uid);
  }

  function refresh() {
    for (const m of new Set([...DEFAULT_METRICS, ...V.cards.keys()])) renderCard(m);
    for (const uid of V.patients) renderPatient(uid);
  }

  let frame = 0;
  function tick() {
    // Redraws every second so the time axis moves with the clock.
    if (!App.me) return;
    frame++;
    if (!$('#view-vitals').hidden) for (const m of V.cards.keys()) renderCard(m);
    if (!$('#view-patients').hidden) for (const uid of V.patients) renderPatient(uid);
    if (frame % 10 === 0) $('#vitals-sub').textContent = `last ${V.windowMin} minutes · updated ${new Date().toLocaleTimeString()}`;
  }

  async function logReading(e) {
    e.preventDefault();
    const metric = $('#log-metric').value;
    const raw = $('#log-value').value.trim();
    const st = $('#log-status');
    const data = { metric, unit: meta(metric).unit.replace('°C', 'C').replace('br/min', 'breaths/min'), timestamp: new Date().toISOString() };
    const bp = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(raw);
    if (metric === 'blood_pressure' && bp) Object.assign(data, { systolic: +bp[1], diastolic: +bp[2], value: +bp[1] });
    else if (isFinite(parseFloat(raw))) data.value = parseFloat(raw);
    else { st.className = 'status-line err'; st.textContent = 'Enter a number (blood pressure: 120/80).'; return; }
    st.className = 'status-line';
    st.textContent = App.client.isLive() ? 'Sending…' : 'Queued: will be sent when the connection is back.';
    try {
      await App.client.request('health_update', data);
      st.className = 'status-line ok';
      st.textContent = 'Saved.';
      $('#log-value').value = '';
    } catch (err) {
      st.className = 'status-line err';
      st.textContent = 'Not saved: ' + App.errText(err);
    }
  }

  Object.assign(V, {
    init() {
      for (const [k, mt] of Object.entries(METRICS)) $('#log-metric').append(h('option', { value: k }, mt.label));
      $('#log-form').addEventListener('submit', logReading);
      for (const b of $$('#window-select button')) {
        b.classList.toggle('active', Number(b.dataset.min) === V.windowMin);
        b.addEventListener('click', () => {
          V.windowMin = Number(b.dataset.min);
          localStorage.setItem('hm.window', String(V.windowMin));
          for (const x of $$('#window-select button')) x.classList.toggle('active', x === b);
          refresh();
        });
      }
      $('#patient-add').addEventListener('submit', (e) => {
        e.preventDefault();
        addPatient(Number($('#patient-id').value));
        $('#patient-id').value = '';
      });
      setInterval(tick, 1000);
      window.addEventListener('resize', refresh);
    },
    extraSubscriptions() { return []; },
    onClient(client) {
      client.on('health_update', onUpdate);
      client.on('health_alert', addAlert);
      // Missed events (a gap in a stream's seq): fetch the readings again.
      const refetch = App.debounce((uid) => loadHistory(uid), 1000);
      client.on('gap', (g) => {
        if (!g.stream.startsWith('health_updates')) return;
        const uid = g.stream.includes(':') ? Number(g.stream.split(':')[1]) : myId();
        refetch(uid);
      });
    },
    onResumed(client, me) {
      loadHistory(me.user_id);
      for (const uid of V.patients) loadHistory(uid);
    },
    onSignedIn(client, me) {
      for (const m of DEFAULT_METRICS) card(m);
      refresh();
      loadHistory(me.user_id);
      for (const uid of loadPatients()) addPatient(uid);
    },
    onShow(view) { if (view === 'vitals' || view === 'patients') requestAnimationFrame(refresh); },
    reset() {
      V.series.clear(); V.seen.clear(); V.alerts = []; V.cards.clear(); V.patients = []; V.patientEls.clear();
      $('#vitals-grid').textContent = '';
      $('#patients').textContent = '';
      renderAlerts();
    },
    /* For tests and the console. */
    readings(metric, uid) { return (V.series.get((uid || myId()) + '|' + metric) || []).slice(); },
  });
  App.vitals = V;
  App.register(V);
})();
