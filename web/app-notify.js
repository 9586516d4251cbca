/*
 * app-notify.js - notifications (live list with priority, acknowledge,
 * a banner for critical ones), preferences (types on or off, quiet hours),
 * and reminders (list, create medication or appointment, delete, answer
 * taken / skipped / snooze).
 */
(function () {
  'use strict';
  const App = window.HMApp;
  const { $, $$, h } = App;

  const TYPES = {
    health_alert: { label: 'Health alerts', icon: '♥' },
    medication_reminder: { label: 'Medication reminders', icon: '℞' },
    appointment_reminder: { label: 'Appointment reminders', icon: '▣' },
    system: { label: 'System notices', icon: 'i' },
  };
  const PRIO = ['low', 'normal', 'high', 'critical'];
  const DAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];

  const N = {
    name: 'notify',
    items: new Map(),   // id -> {n, seq, acked, acking, resends, t, answer}
    reminders: [],
    kind: 'medication',
  };

  function tz() { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { return 'UTC'; } }

  /* ---- notifications ---- */

  function upsert(n, extra) {
    if (!n || !n.id) return null;
    let it = N.items.get(n.id);
    const t = App.parseTime(n.created_at);
    if (!it) {
      it = { n, seq: n.seq, acked: false, acking: false, resends: 0, t: isFinite(t) ? t : Date.now(), answer: null };
      N.items.set(n.id, it);
    } else {
      it.n = Object.assign({}, it.n, n);
    }
    if (extra) Object.assign(it, extra);
    return it;
  }

  function onNotification(msg) {
    const n = msg.notification || msg.data;
    if (!n || !n.id) return;
    const known = N.items.has(n.id);
    const it = upsert(n, msg.seq != null ? { seq: msg.seq } : null);
    if (n.resend) it.resends = Math.max(it.resends + (known ? 1 : 0), Number(n.resend) || 0);
    if (!known && !it.acked) {
      const crit = n.priority === 'critical';
      if (crit || n.priority === 'high' || App.view !== 'notifications')
        App.toast(`${crit ? 'Critical: ' : ''}${n.title || 'Notification'}`, crit ? 'crit' : '', crit ? 8000 : 5000);
    }
    render();
  }

  async function ack(it) {
    if (it.acked || it.acking) return;
    it.acking = true;
    render();
    try {
      await App.client.request('ack', { id: it.n.id });
      it.acked = true;
      it.ackedAt = Date.now();
    } catch (e) {
      App.toast('Could not acknowledge: ' + App.errText(e));
    }
    it.acking = false;
    render();
  }

  async function answer(it, ans) {
    const d = it.n.data || {};
    it.answering = ans;
    render();
    try {
      const data = { reminder_id: d.reminder_id, occurrence: d.occurrence, answer: ans };
      if (ans === 'snooze') data.minutes = 10;
      await App.client.request('reminder_answer', data);
      it.answer = ans;
      if (!it.acked) ack(it);
    } catch (e) {
      App.toast('Could not record the answer: ' + App.errText(e));
    }
    it.answering = null;
    render();
    loadReminders();
  }

  function sorted() {
    return Array.from(N.items.values()).sort((a, b) => (b.t - a.t) || ((b.seq || 0) - (a.seq || 0)));
  }

  function isReminder(n) { return n.data && n.data.reminder_id && n.data.occurrence != null; }

  function notifEl(it) {
    const n = it.n;
    const prio = PRIO.includes(n.priority) ? n.priority : 'normal';
    const ty = TYPES[n.type] || { icon: '•' };
    const actions = h('div', { class: 'actions' });
    if (it.acked) actions.append(h('span', { class: 'acked-label' }, '✓ Acknowledged'));
    else actions.append(h('button', { class: 'btn small' + (prio === 'critical' ? ' danger' : ''), type: 'button', disabled: it.acking,
      dataset: { action: 'ack' }, onclick: () => ack(it) }, it.acking ? (App.client && App.client.isLive() ? 'Acknowledging…' : 'Queued…') : 'Acknowledge'));
    const body = h('div', null,
      h('div', { class: 't' }, n.title || '(no title)', h('span', { class: 'pill ' + prio }, prio),
        it.resends ? h('span', { class: 'pill', title: 'sent again until acknowledged' }, `sent ${it.resends + 1}×`) : null),
      h('div', { class: 'm' }, n.message || ''),
      h('div', { class: 'when' }, `${App.fmtTime(it.t)} · ${(TYPES[n.type] || { label: n.type || 'notice' }).label}`));
    if (isReminder(n)) {
      const row = h('div', { class: 'answer' });
      if (it.answer) row.append(h('span', { class: 'acked-label' }, { taken: '✓ Taken', skipped: 'Skipped', snooze: 'Snoozed 10 min' }[it.answer]));
      else for (const [a, label] of [['taken', 'Taken'], ['skipped', 'Skipped'], ['snooze', 'Snooze 10 min']])
        row.append(h('button', { class: 'btn small ' + (a === 'taken' ? '' : 'ghost'), type: 'button', disabled: !!it.answering, dataset: { answer: a }, onclick: () => answer(it, a) }, label));
      body.append(row);
    }
    return h('div', { class: `notif ${prio}${it.acked ? ' acked' : ''}`, dataset: { id: n.id, seq: it.seq != null ? it.seq : '', priority: prio } },
      h('div', { class: 'ico' }, ty.icon), body, actions);
  }

  function render() {
    const list = $('#notif-list');
    list.textContent = '';
    const all = sorted();
    if (!all.length) list.append(h('div', { class: 'empty' }, 'No notifications yet.'));
    for (const it of all.slice(0, 200)) list.append(notifEl(it));
    const open = all.filter((x) => !x.acked);
    const badge = $('#notif-badge');
    badge.hidden = !open.length;
    badge.textContent = String(open.length);
    $('#notif-sub').textContent = all.length ? `${open.length} to acknowledge · ${all.length} in total` : '';
    // Critical banner: the newest unacknowledged critical one.
    const crit = open.find((x) => x.n.priority === 'critical');
    const banner = $('#critical-banner');
    banner.hidden = !crit;
    banner.textContent = '';
    if (crit) {
      banner.dataset.id = crit.n.id;
      banner.append(h('strong', null, '⚠'), h('div', { class: 'grow' }, h('strong', null, crit.n.title || 'Critical alert'), ' — ', crit.n.message || ''),
        h('button', { class: 'btn small', type: 'button', disabled: crit.acking, onclick: () => ack(crit) }, crit.acking ? 'Acknowledging…' : 'Acknowledge'));
    }
    // Reminder notifications waiting for an answer.
    const due = all.filter((x) => isReminder(x.n) && !x.answer && Date.now() - x.t < 24 * 3600e3);
    $('#due-card').hidden = !due.length;
    const dl = $('#due-list');
    dl.textContent = '';
    for (const it of due.slice(0, 10)) dl.append(notifEl(it));
    const rb = $('#rem-badge');
    rb.hidden = !due.length;
    rb.textContent = String(due.length);
  }

  function loadList() {
    App.client.request('list_notifications', { limit: 50 }, { queue: false }).then((rep) => {
      for (const n of (rep.data && rep.data.notifications) || []) {
        const known = N.items.get(n.id);
        upsert(n, { acked: !!n.acked || (known && known.acked) });
      }
      render();
    }, () => {});
  }

  /* ---- preferences ---- */

  function fillPrefs(p) {
    const types = (p && p.types) || {};
    for (const k of Object.keys(TYPES)) {
      const el = $(`#pref-${k}`);
      if (el) el.checked = types[k] !== false;
    }
    const q = (p && p.quiet_hours) || null;
    $('#quiet-on').checked = !!(q && q.enabled !== false);
    if (q && q.start) $('#quiet-start').value = q.start;
    if (q && q.end) $('#quiet-end').value = q.end;
    $('#quiet-tz').value = (q && q.timezone) || tz();
  }

  function loadPrefs() {
    App.client.request('get_preferences', {}, { queue: false }).then((rep) => {
      fillPrefs(rep.data && (rep.data.preferences || rep.data));
    }, (e) => {
      $('#prefs-status').className = 'status-line err';
      $('#prefs-status').textContent = 'Could not load: ' + App.errText(e);
    });
  }

  async function savePrefs(e) {
    e.preventDefault();
    const st = $('#prefs-status');
    const types = {};
    for (const k of Object.keys(TYPES)) types[k] = $(`#pref-${k}`).checked;
    const prefs = { types, quiet_hours: { enabled: $('#quiet-on').checked, start: $('#quiet-start').value || '22:00',
      end: $('#quiet-end').value || '07:00', timezone: $('#quiet-tz').value.trim() || tz() } };
    st.className = 'status-line';
    st.textContent = 'Saving…';
    try {
      const rep = await App.client.request('update_preferences', prefs);
      fillPrefs(rep.data && (rep.data.preferences || prefs));
      st.className = 'status-line ok';
      st.textContent = 'Saved.';
    } catch (err) {
      st.className = 'status-line err';
      st.textContent = 'Not saved: ' + App.errText(err);
    }
  }

  /* ---- reminders ---- */

  function schedule(r) {
    if (r.kind === 'appointment') {
      const offs = (r.offsets_min || []).map((m) => (m >= 1440 && m % 1440 === 0 ? `${m / 1440} d` : m >= 60 && m % 60 === 0 ? `${m / 60} h` : `${m} min`));
      return `${r.at ? App.fmtTime(App.parseTime(r.at)) : ''}${offs.length ? ' · remind ' + offs.join(', ') + ' before' : ''}`;
    }
    const days = Array.isArray(r.days) && r.days.length && r.days.length < 7 ? r.days.join(' ') : 'every day';
    return `${(r.times || []).join(', ')} · ${days}`;
  }

  function renderReminders() {
    const body = $('#rem-rows');
    body.textContent = '';
    const live = N.reminders.filter((r) => !r.deleted);
    if (!live.length) body.append(h('tr', null, h('td', { colspan: 4, class: 'empty' }, 'No reminders yet. Create one on the right.')));
    for (const r of live) {
      const med = r.kind !== 'appointment';
      body.append(h('tr', { dataset: { id: r.id } },
        h('td', null, h('div', { class: 'strong' }, `${med ? '℞ ' : '▣ '}${r.name || r.title || '(untitled)'}`),
          h('div', { class: 'small muted' }, [med ? (r.dose || 'medication') : 'appointment', r.notes ? ' · ' + r.notes : ''].join(''))),
        h('td', null, schedule(r)),
        h('td', null, r.next_occurrence_at ? App.fmtTime(App.parseTime(r.next_occurrence_at)) : '–'),
        h('td', { class: 'right' }, h('button', { class: 'btn ghost small', type: 'button', onclick: () => del(r) }, 'Delete'))));
    }
  }

  function loadReminders() {
    if (!App.client) return;
    App.client.request('reminder_list', {}, { queue: false }).then((rep) => {
      N.reminders = (rep.data && rep.data.reminders) || [];
      renderReminders();
    }, () => {});
  }

  async function del(r) {
    try {
      await App.client.request('reminder_delete', { reminder_id: r.id });
      N.reminders = N.reminders.filter((x) => x !== r);
      renderReminders();
    } catch (e) {
      App.toast('Could not delete: ' + App.errText(e));
    }
  }

  async function createReminder(e) {
    e.preventDefault();
    const st = $('#rem-status');
    let data;
    const notes = $('#rem-notes').value.trim();
    if (N.kind === 'medication') {
      const name = $('#med-name').value.trim();
      const times = $('#med-times').value.split(/[,\s]+/).filter(Boolean);
      const days = $$('#med-days input:checked').map((x) => x.value);
      if (!name || !times.length) { st.className = 'status-line err'; st.textContent = 'Name and at least one time are needed.'; return; }
      data = { kind: 'medication', name, tz: tz(), times };
      if ($('#med-dose').value.trim()) data.dose = $('#med-dose').value.trim();
      if (days.length && days.length < 7) data.days = days;
    } else {
      const title = $('#appt-title').value.trim();
      const at = $('#appt-at').value;
      if (!title || !at) { st.className = 'status-line err'; st.textContent = 'Title and time are needed.'; return; }
      data = { kind: 'appointment', title, at, tz: tz(), offsets_min: $('#appt-offsets').value.split(',').map(Number) };
    }
    if (notes) data.notes = notes;
    st.className = 'status-line';
    st.textContent = 'Saving…';
    try {
      const rep = await App.client.request('reminder_create', data);
      const r = rep.data && (rep.data.reminder || rep.data);
      if (r && r.id) N.reminders.unshift(r);
      renderReminders();
      st.className = 'status-line ok';
      st.textContent = 'Reminder created.';
      for (const id of ['med-name', 'med-dose', 'appt-title', 'rem-notes']) $('#' + id).value = '';
    } catch (err) {
      st.className = 'status-line err';
      st.textContent = 'Not created: ' + App.errText(err);
    }
  }

  function setKind(kind) {
    N.kind = kind;
    for (const b of $$('#rem-kind button')) b.classList.toggle('active', b.dataset.kind === kind);
    $('#rem-med').hidden = kind !== 'medication';
    $('#rem-appt').hidden = kind !== 'appointment';
  }

  Object.assign(N, {
    init() {
      const box = $('#pref-types');
      for (const [k, t] of Object.entries(TYPES)) {
        box.append(h('div', { class: 'toggle' }, h('span', null, t.label),
          h('label', { class: 'switch' }, h('input', { type: 'checkbox', id: 'pref-' + k, checked: true }), h('span'))));
      }
      try { for (const z of Intl.supportedValuesOf('timeZone')) $('#tz-list').append(h('option', { value: z })); } catch (e) { /* old browser */ }
      $('#quiet-tz').value = tz();
      $('#prefs-form').addEventListener('submit', savePrefs);
      for (const d of DAYS) $('#med-days').append(h('label', null, h('input', { type: 'checkbox', value: d, checked: true }), d.charAt(0) + d.charAt(1).toLowerCase()));
      for (const b of $$('#rem-kind button')) b.addEventListener('click', () => setKind(b.dataset.kind));
      const soon = new Date(Date.now() + 86400e3);
      soon.setMinutes(0, 0, 0);
      const pad = (x) => String(x).padStart(2, '0');
      $('#appt-at').value = `${soon.getFullYear()}-${pad(soon.getMonth() + 1)}-${pad(soon.getDate())}T${pad(soon.getHours())}:00`;
      $('#rem-form').addEventListener('submit', createReminder);
    },
    onClient(client) {
      client.on('notification', onNotification);
      const refetch = App.debounce(loadList, 1000);
      client.on('gap', (g) => { if (g.stream.startsWith('notifications')) refetch(); });
    },
    onSignedIn() { render(); loadList(); loadPrefs(); loadReminders(); },
    onResumed() { loadList(); },
    onShow(view) { if (view === 'reminders') loadReminders(); },
    reset() { N.items.clear(); N.reminders = []; render(); renderReminders(); },
  });
  App.notify = N;
  App.register(N);
})();
