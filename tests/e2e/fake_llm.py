#!/usr/bin/python3
"""fake_llm - a local stand-in for an OpenAI-compatible /v1/chat/completions
endpoint, speaking the real streaming wire format: HTTP/1.1, chunked
transfer encoding, Content-Type text/event-stream, one
`data: {"choices":[{"delta":{"content":"..."}}]}` event per piece, a final
chunk with finish_reason "stop", then `data: [DONE]`.

The only fake in the test suite (the real API is outside this machine). Its
behaviour is chosen by the last user message:
  "#stall"  first piece, then silence (the client must time out)
  "#error"  HTTP 500 with an OpenAI-style error body
  "#slow"   pieces 150 ms apart
  anything else: "I am a test model. You said: <message>" in word pieces.
Every request (headers and body) is kept; GET /requests returns them.

Use in-process (FakeLLM().start(), .url, .requests, .stop()) or standalone:
  fake_llm.py [--port N]    prints "PORT <n>" and serves until killed.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _chunk(model, delta, finish=None):
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, obj):
        text = obj if isinstance(obj, str) else json.dumps(obj)
        self._write_chunk(("data: %s\n\n" % text).encode())

    def do_GET(self):
        if self.path != "/requests":
            self.send_error(404)
            return
        body = json.dumps(self.server.fake.requests).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.server.fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})
        if self.path != "/v1/chat/completions" or not isinstance(body, dict):
            self.send_error(404 if body is not None else 400)
            return
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        last = users[-1] if users else ""
        if "#error" in last:
            err = json.dumps({"error": {"message": "The server had an error", "type": "server_error",
                                        "code": None}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(err)))
            self.end_headers()
            self.wfile.write(err)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._stream(body.get("model", "test"), last)

    def _stream(self, model, last):
        reply = "I am a test model. You said: %s" % last
        words = reply.split(" ")
        pieces = [w + (" " if i + 1 < len(words) else "") for i, w in enumerate(words)]
        try:
            self._event(_chunk(model, {"role": "assistant", "content": ""}))
            for i, piece in enumerate(pieces):
                self._event(_chunk(model, {"content": piece}))
                if "#stall" in last:
                    time.sleep(30)
                    return
                if "#slow" in last:
                    time.sleep(0.15)
            self._event(_chunk(model, {}, "stop"))
            self._event("[DONE]")
            self._write_chunk(b"")  # end of the chunked body
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeLLM:
    def __init__(self, port=0):
        self.requests = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/v1" % self.port
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    port = 0
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        port = int(sys.argv[2])
    fake = FakeLLM(port)
    print("PORT %d" % fake.port, flush=True)
    fake.httpd.serve_forever()
