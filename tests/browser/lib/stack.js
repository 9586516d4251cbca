/*
 * stack.js - starts the real HealthMate stack for the browser tests, the way
 * tests/e2e/hmtest.py does: a broker, hm-auth and hm-edge (serving the
 * dashboard with --www-dir) on free loopback ports, plus hm-health, hm-chat,
 * hm-notify and hm-scheduler when their binaries exist in the bin dir.
 * Everything it started is killed on stop(), also when a test fails.
 *
 * Environment: HM_BIN_DIR (default <repo>/build/bin), HM_WWW_DIR (default
 * <repo>/web), HM_TEST_SLOW (deadline factor), HM_KEEP_TEST_DIRS (keep logs).
 *
 * Run it by hand for a demo stack:  node tests/browser/lib/stack.js
 */
'use strict';
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '../../..');
const BIN = process.env.HM_BIN_DIR || path.join(REPO, 'build/bin');
const WWW = process.env.HM_WWW_DIR || path.join(REPO, 'web');
const SLOW = Number(process.env.HM_TEST_SLOW || '1');
const SECRET = 'browser-test-secret-0123456789abcdef0123456789';
const SERVICES = ['health', 'chat', 'notify', 'scheduler'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/* Polls pred() (sync or async) until it is truthy; throws at the deadline. */
async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs * SLOW;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs * SLOW} ms waiting for ${what}`);
    await sleep(50);
  }
}

function run(file, args, opts) {
  return new Promise((resolve) => {
    execFile(file, args, Object.assign({ timeout: 20000 * SLOW, maxBuffer: 8 << 20 }, opts || {}), (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

class Stack {
  /**
   * opts.services: 'auto' (every service binary that exists), or a list.
   * opts.serviceArgs: {notify: [...], ...} extra flags per service.
   * opts.edgeArgs: extra hm-edge flags.
   */
  constructor(opts) {
    opts = opts || {};
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hm-browser-'));
    this.procs = [];
    this.opts = opts;
    this.services = [];
    this.edge = null;
    this.port = 0;
  }

  bin(name) { return path.join(BIN, name); }
  hasBin(name) { return fs.existsSync(this.bin(name)); }
  has(service) { return this.services.includes(service); }
  busFlags() {
    return ['--events-in', this.bus.events_in, '--events-out', this.bus.events_out, '--requests', this.bus.requests];
  }

  async start() {
    this.bus = {
      events_in: `tcp://127.0.0.1:${await freePort()}`,
      events_out: `tcp://127.0.0.1:${await freePort()}`,
      requests: `tcp://127.0.0.1:${await freePort()}`,
    };
    for (const b of ['hm-broker', 'hm-auth', 'hm-edge', 'hm-bus'])
      if (!this.hasBin(b)) throw new Error(`${this.bin(b)} is missing: build the tree first (cmake --build build)`);
    this.spawn('hm-broker', [...this.busFlags(), '--heartbeat-ms', '250']);
    this.spawn('hm-auth', [...this.busFlags(), ...this.authFlags(), '--heartbeat-ms', '250']);
    const want = this.opts.services === 'auto' || !this.opts.services ? SERVICES : this.opts.services;
    for (const s of want) {
      if (!this.hasBin('hm-' + s)) continue;
      const extra = (this.opts.serviceArgs || {})[s] || [];
      this.spawn('hm-' + s, [...this.busFlags(), '--data-dir', this.dir, '--heartbeat-ms', '250', ...extra]);
      this.services.push(s);
    }
    for (const s of ['auth', ...this.services])
      await waitFor(async () => (await this.busCmd('--timeout', '0.5', '--retries', '0', 'req', 'mmi.service', s)).code === 0,
        15000, `${s} registered with the broker`);
    this.port = await freePort();
    await this.startEdge();
    return this;
  }

  authFlags() { return ['--data-dir', this.dir, '--jwt-secret', SECRET]; }

  spawn(name, args) {
    const log = path.join(this.dir, `${name}.${this.procs.length}.log`);
    const fd = fs.openSync(log, 'a');
    const p = spawn(this.bin(name), args, { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    p.log = log;
    p.name = name;
    p.exited = new Promise((r) => p.once('exit', (code, sig) => r({ code, sig })));
    this.procs.push(p);
    return p;
  }

  async startEdge() {
    const args = [...this.busFlags(), '--port', String(this.port), '--edge-id', 'edge-0', '--bus-heartbeat-ms', '250',
      '--www-dir', WWW, ...(this.opts.edgeArgs || [])];
    const p = this.spawn('hm-edge', args);
    await waitFor(() => {
      if (p.exitCode != null) throw new Error(`hm-edge exited (${p.exitCode}): ${this.tail(p)}`);
      return fs.readFileSync(p.log, 'utf8').includes('event=started');
    }, 15000, `hm-edge started on ${this.port}`);
    this.edge = p;
    return p;
  }

  /* SIGKILL, like a crash. */
  async killEdge() {
    const p = this.edge;
    this.edge = null;
    if (p && p.exitCode == null && p.signalCode == null) {
      p.kill('SIGKILL');
      await p.exited;
    }
  }

  get url() { return `http://127.0.0.1:${this.port}/`; }

  busCmd(...args) { return run(this.bin('hm-bus'), [...this.busFlags(), ...args]); }

  async authCli(...args) {
    const r = await run(this.bin('hm-auth'), [...this.busFlags(), ...this.authFlags(), ...args]);
    if (r.code !== 0) throw new Error(`hm-auth ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  async user(name, role) { return Number(await this.authCli('user', 'add', '--name', name, '--role', role || 'patient')); }
  async token(uid, ttl) { return this.authCli('token', '--user', String(uid), '--ttl', String(ttl || 3600)); }
  async link(memberId, patientId) { return this.authCli('link', String(memberId), String(patientId)); }

  /* Publishes one event on the bus as a service would (SPEC 8.2). */
  async publish(topic, event) {
    const r = await this.busCmd('--linger-ms', '100', 'pub', topic, JSON.stringify(event));
    if (r.code !== 0) throw new Error(`hm-bus pub ${topic}: ${r.stderr}`);
  }

  /* A Majordomo request as the edge or a service would make it; returns the
   * reply envelope (JSON). */
  async request(service, envelope, timeoutS) {
    const r = await this.busCmd('--timeout', String(timeoutS || 5), 'req', service, JSON.stringify(envelope));
    let reply = null;
    try { reply = JSON.parse(r.stdout.trim().split('\n').pop()); } catch (e) { /* below */ }
    if (!reply) throw new Error(`hm-bus req ${service} ${envelope.type}: exit ${r.code} ${r.stderr}`);
    return reply;
  }

  tail(p, n) {
    try { return fs.readFileSync(p.log, 'utf8').slice(-(n || 3000)); } catch (e) { return ''; }
  }

  logs() { return this.procs.map((p) => `--- ${p.log}\n${this.tail(p)}`).join('\n'); }

  async stop() {
    const alive = this.procs.filter((p) => p.exitCode == null && p.signalCode == null);
    for (const p of alive.reverse()) p.kill('SIGTERM');
    await Promise.race([Promise.all(alive.map((p) => p.exited)), sleep(5000)]);
    for (const p of alive) if (p.exitCode == null && p.signalCode == null) p.kill('SIGKILL');
    await Promise.all(alive.map((p) => p.exited));
    if (!process.env.HM_KEEP_TEST_DIRS) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { Stack, waitFor, sleep, freePort, REPO, BIN, WWW, SLOW };

/* By hand: a stack with a demo patient (and with --demo, data), the URL
 * to open printed, until Ctrl-C. */
if (require.main === module) {
  (async () => {
    const demo = require('./demo');
    const st = await new Stack({ services: 'auto' }).start();
    const uid = await st.user('Pat Demo', 'patient');
    const tok = await st.token(uid, 8 * 3600);
    console.log(`services: ${st.services.join(', ') || '(none)'}; data in ${st.dir}`);
    console.log(`bus: ${st.busFlags().join(' ')}`);
    if (process.argv.includes('--demo') && st.has('health')) {
      await demo.seedVitals(st, uid, 12, 20);
      setInterval(() => demo.tickVitals(st, uid).catch(() => {}), 5000);
    }
    console.log(`open ${st.url}#token=${tok}`);
    const stop = () => st.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  })().catch((e) => { console.error(e); process.exit(1); });
}
