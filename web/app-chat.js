/*
 * app-chat.js - chat with the health assistant: conversation list, history,
 * typing indicators both ways, streamed replies (chat_message_delta), and
 * messages typed while offline sent when the connection is back.
 */
(function () {
  'use strict';
  const App = window.HMApp;
  const { $, h } = App;

  const C = {
    name: 'chat',
    convs: new Map(),     // id -> {id, msgs: Map(message_id -> m), updated, loaded}
    current: null,        // conversation id, null: a new one
    pending: [],          // local bubbles: {lid, conv, text, status, message_id?, t}
    streams: new Map(),   // message_id -> {conv, parts: [], t}
    typing: new Map(),    // conv -> {until, sender}
    unread: 0,
    newConv: null,        // promise of the first send of a new conversation
  };
  let typingSentAt = 0;
  let typingStop = null;
  let typingShownAt = 0;

  function myId() { return App.me ? App.me.user_id : 0; }
  function isMine(m) {
    if (m.sender === 'ai_assistant' || m.sender === 'assistant') return false;
    return m.sender_id == null ? m.sender === 'user' : m.sender_id === myId();
  }
  function senderName(m) {
    if (m.sender === 'ai_assistant' || m.sender === 'assistant') return 'HealthMate assistant';
    if (m.sender === 'care_team') return `Care team #${m.sender_id}`;
    return isMine(m) ? 'You' : `User #${m.sender_id}`;
  }

  function conv(id) {
    if (!C.convs.has(id)) C.convs.set(id, { id, msgs: new Map(), updated: 0, loaded: false });
    return C.convs.get(id);
  }

  function addMessage(m) {
    if (!m || !m.conversation_id) return false;
    const cv = conv(m.conversation_id);
    const id = m.message_id || 'seq:' + m.seq;
    const fresh = !cv.msgs.has(id);
    const t = App.parseTime(m.timestamp);
    cv.msgs.set(id, Object.assign({}, m, { t: isFinite(t) ? t : Date.now() }));
    cv.updated = Math.max(cv.updated, isFinite(t) ? t : Date.now());
    C.streams.delete(m.message_id);
    // The server's copy replaces a local bubble of the same message.
    C.pending = C.pending.filter((p) => !(p.message_id === m.message_id ||
      (isMine(m) && p.text === m.message && (p.conv == null || p.conv === m.conversation_id) && p.status !== 'sent')));
    return fresh;
  }

  /* ---- rendering ---- */

  function sortedMsgs(cv) {
    return Array.from(cv.msgs.values()).sort((a, b) => (a.seq != null && b.seq != null ? a.seq - b.seq : a.t - b.t));
  }

  function convTitle(cv) {
    const first = sortedMsgs(cv).find((m) => isMine(m));
    if (first) return first.message.length > 40 ? first.message.slice(0, 40) + '…' : first.message;
    return 'Conversation ' + App.fmtTime(cv.updated || Date.now());
  }

  function renderList() {
    const list = $('#conv-list');
    list.textContent = '';
    const convs = Array.from(C.convs.values()).sort((a, b) => b.updated - a.updated);
    if (C.current == null) list.append(h('button', { class: 'conv active', type: 'button' },
      h('div', { class: 't' }, h('span', null, 'New conversation')), h('div', { class: 'p' }, 'Ask the assistant anything')));
    for (const cv of convs) {
      const msgs = sortedMsgs(cv);
      const last = msgs[msgs.length - 1];
      const typing = C.typing.has(cv.id);
      list.append(h('button', { class: 'conv' + (cv.id === C.current ? ' active' : ''), type: 'button', dataset: { conv: cv.id },
        onclick: () => select(cv.id) },
      h('div', { class: 't' }, h('span', null, convTitle(cv)), h('span', { class: 'small muted' }, App.fmtTime(cv.updated))),
      h('div', { class: 'p' }, typing ? 'typing…' : last ? (isMine(last) ? 'You: ' : '') + last.message : 'No messages yet')));
    }
    if (!convs.length && C.current != null) list.append(h('div', { class: 'empty' }, 'No conversations yet.'));
  }

  function bubble(cls, text, meta, data) {
    return h('div', { class: 'msg ' + cls, dataset: data || {} }, h('div', { class: 'bubble' }, text), h('div', { class: 'meta' }, meta));
  }

  function renderThread() {
    const box = $('#messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    box.textContent = '';
    const cv = C.current != null ? C.convs.get(C.current) : null;
    const msgs = cv ? sortedMsgs(cv) : [];
    $('#thread-title').textContent = cv ? convTitle(cv) : 'New conversation';
    if (!msgs.length && !C.pending.some((p) => p.conv === C.current)) {
      box.append(h('div', { class: 'empty' }, 'Say hello, or ask "How is my blood pressure today?"'));
    }
    for (const m of msgs) {
      const mine = isMine(m);
      box.append(bubble(mine ? 'me' : 'them', m.message, `${mine ? '' : senderName(m) + ' · '}${App.fmtTime(m.t)}`,
        { id: m.message_id || '', seq: m.seq != null ? m.seq : '', sender: m.sender || '' }));
    }
    for (const [id, s] of C.streams) {
      if (s.conv !== C.current) continue;
      box.append(bubble('them streaming', s.parts.join(''), 'HealthMate assistant · writing…', { id, sender: 'ai_assistant' }));
    }
    for (const p of C.pending) {
      if (p.conv !== C.current) continue;
      const status = { queued: 'Waiting for connection…', sending: 'Sending…', sent: 'Sent', failed: 'Not sent' }[p.status];
      const el = bubble('me ' + (p.status === 'failed' ? 'failed' : 'pending'), p.text, status, { local: p.lid });
      if (p.status === 'failed') el.querySelector('.meta').append(' · ', h('button', { class: 'btn link', type: 'button', onclick: () => retry(p) }, 'Retry'));
      box.append(el);
    }
    if (atBottom || C.pending.length) box.scrollTop = box.scrollHeight;
    renderTyping();
  }

  function renderTyping() {
    const t = C.current != null ? C.typing.get(C.current) : null;
    const el = $('#typing-indicator');
    const show = !!(t && t.until > Date.now());
    if (show && el.hidden) typingShownAt = Date.now();
    if (!show && !el.hidden && Date.now() - typingShownAt < 700) {
      // Keep a short indicator on screen long enough to be seen.
      setTimeout(renderTyping, 700 - (Date.now() - typingShownAt));
      return;
    }
    el.hidden = !show;
    if (show) $('#typing-text').textContent = `${t.sender === 'ai_assistant' ? 'Assistant' : 'Someone'} is typing…`;
  }

  function render() { renderList(); renderThread(); }

  /* ---- actions ---- */

  function select(id) {
    C.current = id;
    render();
    if (id != null) loadHistory(id);
    $('#chat-input').focus();
  }

  function loadHistory(id) {
    const cv = conv(id);
    App.client.request('chat_history', { conversation_id: id, limit: 100 }, { queue: false }).then((rep) => {
      for (const m of (rep.data && rep.data.messages) || []) addMessage(m);
      cv.loaded = true;
      render();
    }, () => {});
  }

  function loadConversations() {
    App.client.request('chat_history', {}, { queue: false }).then((rep) => {
      const list = (rep.data && rep.data.conversations) || [];
      for (const c of list) {
        const cv = conv(c.conversation_id);
        cv.updated = Math.max(cv.updated, App.parseTime(c.updated_at) || 0);
      }
      const recent = list.slice().sort((a, b) => (App.parseTime(b.updated_at) || 0) - (App.parseTime(a.updated_at) || 0));
      if (C.current == null && recent.length) C.current = recent[0].conversation_id;
      recent.slice(0, 8).forEach((c) => loadHistory(c.conversation_id));
      render();
    }, () => {});
  }

  function setTyping(on) {
    const c = App.client;
    if (!c || !c.isLive() || C.current == null) return;
    c.request('typing', { conversation_id: C.current, typing: on }, { queue: false }).catch(() => {});
  }

  function onInput() {
    const now = Date.now();
    if (now - typingSentAt > 3000) { typingSentAt = now; setTyping(true); }
    clearTimeout(typingStop);
    typingStop = setTimeout(() => { typingSentAt = 0; setTyping(false); }, 4000);
  }

  async function send(p) {
    const c = App.client;
    p.status = c.isLive() ? 'sending' : 'queued';
    renderThread();
    try {
      if (p.conv == null && C.newConv && C.newConv !== p.promise) await C.newConv.catch(() => {});
      if (p.conv == null && C.current != null && p.startedNew) p.conv = C.current;
      const data = { message: p.text };
      if (p.conv != null) data.conversation_id = p.conv;
      const rep = await c.request('chat_message', data);
      const d = rep.data || {};
      p.message_id = d.message_id;
      p.status = 'sent';
      if (p.conv == null && d.conversation_id) {
        p.conv = d.conversation_id;
        conv(d.conversation_id).updated = Date.now();
        if (C.current == null) C.current = d.conversation_id;
      }
      // Already delivered as an event? Then the local bubble goes.
      const cv = p.conv && C.convs.get(p.conv);
      if (cv && p.message_id && cv.msgs.has(p.message_id)) C.pending = C.pending.filter((x) => x !== p);
    } catch (e) {
      p.status = 'failed';
      p.error = App.errText(e);
      App.toast('Message not sent: ' + p.error);
    }
    render();
  }

  function submit(e) {
    if (e) e.preventDefault();
    const input = $('#chat-input');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    clearTimeout(typingStop);
    if (typingSentAt) { typingSentAt = 0; setTyping(false); }
    const p = { lid: HMClient.uuid4(), conv: C.current, text, status: 'queued', t: Date.now(), startedNew: C.current == null };
    C.pending.push(p);
    const promise = send(p);
    if (p.conv == null && !C.newConv) {
      C.newConv = promise;
      p.promise = promise;
      promise.finally(() => { if (C.newConv === promise) C.newConv = null; });
    }
    render();
  }

  function retry(p) { p.status = 'queued'; send(p); }

  /* ---- events ---- */

  function onMessage(msg) {
    const m = Object.assign({}, msg.data || {});
    if (!addMessage(m)) return;
    if (!isMine(m) && C.typing.has(m.conversation_id)) {
      const t = C.typing.get(m.conversation_id);
      if (t.sender === m.sender) C.typing.delete(m.conversation_id);
    }
    if (C.current == null && C.pending.length === 0 && !C.convs.size) C.current = m.conversation_id;
    if (!isMine(m) && (App.view !== 'chat' || m.conversation_id !== C.current)) {
      C.unread++;
      renderBadge();
    }
    render();
  }

  function onDelta(msg) {
    const d = msg.data || {};
    if (!d.message_id) return;
    const cv = d.conversation_id && C.convs.get(d.conversation_id);
    if (cv && cv.msgs.has(d.message_id)) return; // the final message is here already
    if (!C.streams.has(d.message_id)) C.streams.set(d.message_id, { conv: d.conversation_id, parts: [], t: Date.now() });
    const s = C.streams.get(d.message_id);
    const i = typeof d.index === 'number' ? d.index : s.parts.length;
    s.parts[i] = d.delta || '';
    if (C.typing.has(d.conversation_id)) C.typing.delete(d.conversation_id);
    if (C.current == null && d.conversation_id && C.pending.some((p) => p.conv === d.conversation_id)) C.current = d.conversation_id;
    renderThread();
  }

  function onTyping(msg) {
    const d = msg.data || {};
    if (!d.conversation_id || (d.user_id === myId() && d.sender !== 'ai_assistant')) return;
    if (d.typing) C.typing.set(d.conversation_id, { until: Date.now() + 15000, sender: d.sender });
    else C.typing.delete(d.conversation_id);
    if (C.current == null && C.pending.some((p) => p.conv === d.conversation_id)) C.current = d.conversation_id;
    renderList();
    renderTyping();
  }

  function renderBadge() {
    const b = $('#chat-badge');
    b.hidden = !C.unread;
    b.textContent = String(C.unread);
  }

  Object.assign(C, {
    init() {
      $('#composer').addEventListener('submit', submit);
      $('#chat-input').addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); submit(); }
      });
      $('#chat-input').addEventListener('input', onInput);
      $('#new-conv').addEventListener('click', () => select(null));
      setInterval(() => {
        let changed = false;
        for (const [k, t] of C.typing) if (t.until < Date.now()) { C.typing.delete(k); changed = true; }
        if (changed) { renderList(); renderTyping(); }
      }, 1000);
    },
    onClient(client) {
      client.on('chat_message', onMessage);
      client.on('chat_message_delta', onDelta);
      client.on('typing', onTyping);
      const refetch = App.debounce(() => { loadConversations(); if (C.current != null) loadHistory(C.current); }, 1000);
      client.on('gap', (g) => { if (g.stream === 'chat') refetch(); });
    },
    onSignedIn() { render(); loadConversations(); },
    onResumed() { if (C.current != null) loadHistory(C.current); },
    onState(st) {
      if (st.state === 'live') {
        for (const p of C.pending) if (p.status === 'queued') p.status = 'sending';
        renderThread();
      }
    },
    onShow(view) {
      if (view !== 'chat') return;
      C.unread = 0;
      renderBadge();
      render();
    },
    reset() {
      C.convs.clear(); C.pending = []; C.streams.clear(); C.typing.clear(); C.current = null; C.unread = 0;
      renderBadge();
    },
  });
  App.chat = C;
  App.register(C);
})();
