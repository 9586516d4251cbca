/*
 * browser.js - headless Chromium from Debian (/usr/bin/chromium) driven by
 * playwright-core (no downloaded browsers), with a fresh profile per run,
 * and a recorder of what a page did: console errors, requests, WebSocket
 * frames.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CHROMIUM = process.env.HM_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

async function launch(opts) {
  const { chromium } = require('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hm-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, Object.assign({
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
    timezoneId: 'UTC',
    locale: 'en-GB',
  }, opts || {}));
  const close = ctx.close.bind(ctx);
  ctx.close = async () => {
    await close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return ctx;
}

/* Records a page's console errors, uncaught exceptions, requests and the
 * JSON frames of its WebSockets (received: {t, msg}; sent likewise). */
function record(page) {
  const rec = { errors: [], requests: [], received: [], sent: [], sockets: 0 };
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = m.location() && m.location().url;
    rec.errors.push(m.text() + (where ? ` (${where})` : ''));
  });
  page.on('pageerror', (e) => rec.errors.push('pageerror: ' + e.message));
  page.on('request', (r) => rec.requests.push(r.url()));
  page.on('websocket', (ws) => {
    rec.sockets++;
    const parse = (payload) => { try { return JSON.parse(String(payload)); } catch (e) { return null; } };
    ws.on('framereceived', (f) => { const msg = parse(f.payload); if (msg) rec.received.push({ t: Date.now(), msg }); });
    ws.on('framesent', (f) => { const msg = parse(f.payload); if (msg) rec.sent.push({ t: Date.now(), msg }); });
  });
  return rec;
}

module.exports = { launch, record, CHROMIUM, ARGS };
