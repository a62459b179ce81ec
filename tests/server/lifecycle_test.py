"""keytok serve's lifecycle: 503 while loading, and SIGTERM/SIGINT with requests in flight
(docs/server.md, "Concurrency": stop accepting, let the requests in flight finish up to
--drain-seconds, exit 0). Each test starts its own server.

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        build/venv/bin/python tests/server/lifecycle_test.py
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from keytok_server import KeytokServer, free_port

COUNT_PROMPT = "1, 2, 3, 4, 5, 6, 7, 8,"  # SmolLM2 counts on greedily, never ending by itself


def open_stream(srv, max_tokens):
    """Starts a streaming greedy completion and reads its first event (the request is admitted
    and decoding). Returns (connection, response)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    conn.request("POST", "/v1/completions", headers={"Content-Type": "application/json"},
                 body=json.dumps({"prompt": COUNT_PROMPT, "max_tokens": max_tokens, "temperature": 0,
                                  "stream": True}))
    resp = conn.getresponse()
    first = resp.readline()
    assert first.startswith(b"data: {"), first
    assert resp.readline() == b"\n"
    return conn, resp


def refused(port):
    """True once the port refuses connections. A connect reset by the peer is the listening
    socket closing with that connection still in its backlog: not yet a refusal, so the
    caller asks again."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False


class StopTest(unittest.TestCase):
    def assert_completed(self, rest, max_tokens):
        """The rest of a stream (after open_stream's first event) holds the other max_tokens - 1
        tokens, the finish reason "length", then [DONE]."""
        self.assertTrue(rest.endswith(b"data: [DONE]\n\n"), rest[-300:])
        events = [json.loads(b[len(b"data: "):]) for b in rest.split(b"\n\n")[:-2]]
        reasons = [ch["finish_reason"] for e in events for ch in e["choices"] if ch["finish_reason"]]
        self.assertEqual(reasons, ["length"])
        self.assertEqual(sum(1 for e in events for ch in e["choices"] if ch["text"]), max_tokens - 1)

    def stop_with_stream_in_flight(self, sig):
        srv = KeytokServer()
        srv.__enter__()
        try:
            conn, resp = open_stream(srv, max_tokens=120)
            t0 = time.time()
            srv.proc.send_signal(sig)
            # The listening socket closes at once, while the stream goes on.
            deadline = time.time() + 5
            while not refused(srv.port) and time.time() < deadline:
                time.sleep(0.05)
            self.assertTrue(refused(srv.port), "new connections are still accepted after the signal")
            self.assertIsNone(srv.proc.poll(), "the server exited before its stream finished")
            rest = resp.read()
            conn.close()
            code = srv.wait(timeout=60)
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
        self.assertEqual(code, 0, srv.output())
        self.assert_completed(rest, 120)
        name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
        self.assertIn(f"keytok serve: {name}: finishing the requests in flight (a second signal exits at once)",
                      srv.output())
        self.assertIn("keytok serve: stopped", srv.output())
        self.assertTrue(refused(srv.port))
        self.assertLess(time.time() - t0, 60)

    def test_sigterm_lets_the_stream_in_flight_finish(self):
        self.stop_with_stream_in_flight(signal.SIGTERM)

    def test_sigint_lets_the_stream_in_flight_finish(self):
        self.stop_with_stream_in_flight(signal.SIGINT)

    def test_sigterm_under_load_finishes_every_stream_and_exits_0(self):
        # Eight streams decoding at once (the load test's client count), then SIGTERM: each ends
        # with all its tokens, its finish reason and [DONE]; the server exits 0.
        srv = KeytokServer("--parallel", "8")
        srv.__enter__()
        try:
            streams = [open_stream(srv, max_tokens=60) for _ in range(8)]
            srv.proc.send_signal(signal.SIGTERM)
            rests = [resp.read() for _, resp in streams]
            for conn, _ in streams:
                conn.close()
            code = srv.wait(timeout=120)
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
        self.assertEqual(code, 0, srv.output())
        for rest in rests:
            self.assert_completed(rest, 60)
        self.assertIn("keytok serve: stopped", srv.output())

    def test_idle_server_stops_at_once(self):
        srv = KeytokServer()
        srv.__enter__()
        t0 = time.time()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.time() - t0, 2.0)
        self.assertTrue(refused(srv.port))

    def test_idle_keep_alive_connection_does_not_hold_the_stop(self):
        # A client's pooled keep-alive connection (openai's httpx client keeps one) is not a request
        # in flight; the stop should not wait for its 5 s keep-alive timeout.
        srv = KeytokServer()
        srv.__enter__()
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            self.assertEqual(resp.read(), b'{"status":"ok"}')
            self.assertEqual(resp.headers["Keep-Alive"], "timeout=1, max=5")
            t0 = time.time()
            self.assertEqual(srv.stop(), 0)
            self.assertLess(time.time() - t0, 2.0)
        finally:
            conn.close()

    def test_drain_timeout_cancels_the_stream_and_exits_0(self):
        srv = KeytokServer("--drain-seconds", "1")
        srv.__enter__()
        try:
            conn, resp = open_stream(srv, max_tokens=2000)
            t0 = time.time()
            srv.proc.send_signal(signal.SIGTERM)
            rest = resp.read()  # the stream ends (cancelled) after about a second
            ended = time.time() - t0
            conn.close()
            code = srv.wait(timeout=30)
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
        self.assertEqual(code, 0, srv.output())
        self.assertGreater(ended, 0.9)
        self.assertLess(ended, 10)
        self.assertLess(rest.count(b"data: "), 2000)
        self.assertNotIn(b'"finish_reason":"length"', rest)
        # The client is told why its stream ended.
        self.assertIn(b'{"error":{"message":"the server is shutting down; the request was cancelled",'
                      b'"type":"server_unavailable","param":null,"code":null}}', rest)
        self.assertTrue(rest.endswith(b"data: [DONE]\n\n"), rest[-200:])

    def test_queued_request_gets_503_on_stop(self):
        srv = KeytokServer("--parallel", "1", "--queue", "1")
        srv.__enter__()
        try:
            conn, resp = open_stream(srv, max_tokens=100)
            queued = {}

            def send():
                queued["result"] = srv.post_json("/v1/completions", {"prompt": "hi", "max_tokens": 1})

            t = threading.Thread(target=send)
            t.start()
            deadline = time.time() + 10
            while srv.metrics()["keytok_queue_depth"] != 1 and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(srv.metrics()["keytok_queue_depth"], 1)
            srv.proc.send_signal(signal.SIGTERM)
            t.join(30)
            rest = resp.read()
            conn.close()
            code = srv.wait(timeout=60)
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
        self.assertEqual(code, 0)
        self.assertEqual(queued["result"], (503, {"error": {
            "message": "the server is shutting down", "type": "server_unavailable", "param": None, "code": None}}))
        self.assertTrue(rest.endswith(b"data: [DONE]\n\n"))


class LoadingTest(unittest.TestCase):
    """While the model loads, /health and the API answer 503. The load is made long on purpose:
    an empty KEYTOK_CACHE and no --no-auto-calibrate make the server calibrate SmolLM2 first
    (about a minute on one thread), and it is 'loading' until that is done."""

    def setUp(self):
        self.cache = tempfile.TemporaryDirectory(prefix="keytok-cache-")
        self.addCleanup(self.cache.cleanup)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="keytok-serve-", suffix=".log", delete=False)
        self.addCleanup(os.unlink, self.log.name)
        cmd = [os.environ.get("KEYTOK_BINARY", "build/bin/keytok"), "serve", "-m",
               os.environ.get("KEYTOK_TEST_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf"),
               "--port", str(self.port), "--threads", "1", "--ctx", "4096"]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, KEYTOK_CACHE=self.cache.name))
        self.addCleanup(self.kill)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def get(self, path, body=None):
        req = urllib.request.Request(self.url + path, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_listening(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            self.assertIsNone(self.proc.poll(), self.output())
            try:
                return self.get("/health")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        self.fail("the server never listened:\n" + self.output())

    def test_503_while_loading(self):
        status, body = self.wait_listening()
        self.assertEqual((status, json.loads(body)), (503, {"status": "loading"}))
        status, body = self.get("/v1/models")
        self.assertEqual((status, json.loads(body)), (503, {"error": {
            "message": "the model is still loading", "type": "server_unavailable", "param": None, "code": None}}))
        for path, req in (("/v1/completions", {"prompt": "hi"}),
                          ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})):
            status, body = self.get(path, req)
            self.assertEqual((status, json.loads(body)), (503, {"error": {
                "message": "the model is still loading; retry when GET /health says ok",
                "type": "server_unavailable", "param": None, "code": None}}))
        status, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn("\nkeytok_loading 1\n", body.decode())

    def test_sigterm_while_loading_exits_0_promptly(self):
        status, _ = self.wait_listening()
        self.assertEqual(status, 503)
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            # A second signal: style.md's "a second signal exits".
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
                self.fail("keytok serve went on loading (calibrating) for 5 s after SIGTERM; it exited only "
                          "after a second SIGTERM")
            except subprocess.TimeoutExpired:
                self.fail("keytok serve ignored SIGTERM while loading (calibrating), and a second SIGTERM too")
        self.assertEqual(code, 0, self.output())


if __name__ == "__main__":
    unittest.main()
