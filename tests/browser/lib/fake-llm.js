/*
 * fake-llm.js - a tiny OpenAI-compatible chat completions server on
 * loopback that streams a canned answer as server-sent events, so that
 * hm-chat's "openai" backend streams replies (chat_message_delta) in the
 * browser tests without any network access.
 *
 *   const llm = await startFakeLlm({ chunkMs: 150 });
 *   ... hm-chat --assistant openai --openai-url llm.url ...
 *   llm.requests  // bodies received
 *   await llm.close();
 */
'use strict';
const http = require('node:http');

const ANSWER = ['Your heart rate ', 'has been steady ', 'between 68 and 80 bpm ', 'over the last hour, ',
  'which is a normal resting range. ', 'Keep taking your readings ', 'and tell your care team ', 'if you feel unwell.'];

function startFakeLlm(opts) {
  opts = opts || {};
  const chunkMs = opts.chunkMs || 150;
  const answer = opts.answer || ANSWER;
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end('{"error":{"message":"not found"}}');
      }
      let parsed = null;
      try { parsed = JSON.parse(body); } catch (e) { /* recorded as null */ }
      requests.push(parsed);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const id = 'chatcmpl-' + Date.now();
      let i = 0;
      const chunk = (delta, finish) => JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000),
        model: 'fake', choices: [{ index: 0, delta, finish_reason: finish || null }] });
      res.write(`data: ${chunk({ role: 'assistant', content: '' })}\n\n`);
      const timer = setInterval(() => {
        if (i < answer.length) {
          res.write(`data: ${chunk({ content: answer[i++] })}\n\n`);
          return;
        }
        clearInterval(timer);
        res.write(`data: ${chunk({}, 'stop')}\n\n`);
        res.end('data: [DONE]\n\n');
      }, chunkMs);
      res.on('close', () => clearInterval(timer));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        answer: answer.join(''),
        requests,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

module.exports = { startFakeLlm, ANSWER };
