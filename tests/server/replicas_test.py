"""Two keytok serve replicas behind nginx (docs/scale-out.md, "More requests than one server can
take: replicas behind nginx"), with the very config the doc shows: docs/examples/nginx-keytok.conf,
its ports replaced by free loopback ports. nginx runs in the foreground from a temporary prefix.

Checked: requests through nginx are spread over both replicas (each replica's /metrics counts
its own), a stream comes through unbuffered and whole, and after one replica stops (SIGTERM, exit
0) every new request is served, with 200, by the other.

Needs nginx (Debian package `nginx`, installed by scripts/install_deps.sh).

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        PYTHONPATH=tests/server build/venv/bin/python tests/server/replicas_test.py
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from api_test import CHAT_QUESTION, COUNT_PROMPT, post_stream, sse_payloads, stream_text
from keytok_server import KeytokServer, free_port

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")
CONF = os.path.join(DOCS, "examples", "nginx-keytok.conf")
SECTION = "## More requests than one server can take: replicas behind nginx"
OK = 'keytok_requests_total{outcome="ok"}'


def find_nginx():
    path = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)),
                                         None)
    if path is None:
        raise RuntimeError("nginx is not installed; the replicas test needs it: run scripts/install_deps.sh "
                           "(it installs the Debian package nginx)")
    return path


def render_conf(text, listen, replicas):
    """The example config with its three ports replaced; each must be there exactly once, so that
    the example and this test cannot drift apart."""
    for old, new in (("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{listen};"),
                     ("server 127.0.0.1:8081 ", f"server 127.0.0.1:{replicas[0]} "),
                     ("server 127.0.0.1:8082 ", f"server 127.0.0.1:{replicas[1]} ")):
        if text.count(old) != 1:
            raise RuntimeError(f"{CONF} should hold `{old.strip()}` once")
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx in the foreground (daemon off) with a prefix in a temporary folder."""

    # The same small HTTP helpers as a keytok server's (they use .url and .port only).
    request = KeytokServer.request
    post_json = KeytokServer.post_json

    def __init__(self, replica_ports):
        self.binary = find_nginx()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.TemporaryDirectory(prefix="keytok-nginx-")
        # As root, nginx's workers run as an unprivileged user: they must reach the prefix.
        os.chmod(self.dir.name, 0o755)
        with open(CONF) as f:
            conf = render_conf(f.read(), self.port, replica_ports)
        self.conf = os.path.join(self.dir.name, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.error_log = os.path.join(self.dir.name, "error.log")
        self.proc = None

    def start(self):
        cmd = [self.binary, "-p", self.dir.name, "-c", self.conf, "-e", self.error_log,
               "-g", f"daemon off; pid {self.dir.name}/nginx.pid;"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {self.port} in 30 s:\n{self.log()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish the connections in flight
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()

    def log(self):
        try:
            with open(self.error_log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return "(no error log)"


def config_lines(text):
    """The lines of an nginx config without comments, blank lines and indentation."""
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


class ConfigDocTest(unittest.TestCase):
    def test_the_doc_shows_the_config_the_test_runs(self):
        # docs/scale-out.md shows the config without its comments and housekeeping lines: each
        # line it shows must be in the file, in the same order.
        with open(os.path.join(DOCS, "scale-out.md")) as f:
            doc = f.read()
        shown = config_lines(doc[doc.index(SECTION):].split("```nginx\n", 1)[1].split("```", 1)[0])
        with open(CONF) as f:
            lines = iter(config_lines(f.read()))
        missing = [line for line in shown if not any(line == x for x in lines)]
        self.assertEqual(missing, [], "docs/scale-out.md shows lines that docs/examples/nginx-keytok.conf "
                                      "does not have (in that order)")
        self.assertGreater(len(shown), 10)


class ReplicasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        find_nginx()  # fails at once, with what to do, when nginx is missing
        cls.replicas = []
        for _ in range(2):
            srv = KeytokServer()
            srv.__enter__()
            cls.replicas.append(srv)
            cls.addClassCleanup(srv.__exit__, None, None, None)
        cls.lb = Nginx([r.port for r in cls.replicas])
        cls.addClassCleanup(cls.lb.stop)
        cls.lb.start()

    def ok_counts(self, replicas=None):
        return [r.metrics()[OK] for r in (replicas or self.replicas)]

    def wait_ok_counts(self, expected, replicas=None):
        """Waits for the replicas' ok counters (bumped just after a response is sent)."""
        deadline = time.time() + 10
        while self.ok_counts(replicas) != expected and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.ok_counts(replicas), expected, self.lb.log())

    def complete(self, **body):
        status, data = self.lb.post_json("/v1/completions", body)
        self.assertEqual(status, 200, f"{data}\n{self.lb.log()}")
        return data

    def test_1_both_replicas_answer(self):
        before = self.ok_counts()
        n = 6
        texts = set()
        for _ in range(n):
            r = self.complete(prompt=COUNT_PROMPT, max_tokens=8, temperature=0)
            self.assertEqual(r["usage"]["completion_tokens"], 8)
            texts.add(r["choices"][0]["text"])
        status, data = self.lb.post_json("/v1/chat/completions", {"messages": CHAT_QUESTION, "max_tokens": 32,
                                                                  "temperature": 0})
        self.assertEqual(status, 200, data)
        self.assertEqual(data["choices"][0]["message"]["content"], "The answer is: 4")
        n += 1
        # One nginx worker, equal weights: round robin alternates, so each replica gets its share
        # (which of them took the odd one depends on the requests before).
        deadline = time.time() + 10
        while sum(self.ok_counts()) != sum(before) + n and time.time() < deadline:
            time.sleep(0.05)
        got = sorted(a - b for a, b in zip(self.ok_counts(), before))
        self.assertEqual(got, [n // 2, n - n // 2], self.lb.log())
        # Same binary, model and flags, one request at a time: greedy gives the same text anywhere.
        self.assertEqual(texts, {" 9, 10, "})
        # The other endpoints pass through too.
        status, _, body = self.lb.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["data"][0]["id"], "SmolLM2-135M-Instruct.Q4_1")

    def test_2_streaming_through_the_proxy(self):
        body = {"prompt": COUNT_PROMPT, "max_tokens": 24, "temperature": 0}
        whole = self.complete(**body)["choices"][0]["text"]
        status, headers, raw = post_stream(self.lb, "/v1/completions", dict(body, stream=True))
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/event-stream")
        chunks = sse_payloads(self, raw)
        self.assertEqual(stream_text(chunks, chat=False), whole)
        self.assertEqual(sum(1 for c in chunks for ch in c["choices"] if ch["text"]), 24)  # an event a token
        # Unbuffered: the first event comes through while the replica is still generating.
        conn = http.client.HTTPConnection("127.0.0.1", self.lb.port, timeout=120)
        try:
            conn.request("POST", "/v1/completions", headers={"Content-Type": "application/json"},
                         body=json.dumps(dict(body, max_tokens=400, stream=True)))
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            first = resp.readline()
            self.assertTrue(first.startswith(b"data: {"), first)
            self.assertEqual(sum(r.metrics()["keytok_requests_running"] for r in self.replicas), 1)
            rest = resp.read()
        finally:
            conn.close()
        self.assertTrue(rest.endswith(b"data: [DONE]\n\n"), rest[-200:])
        self.assertEqual((first + rest).count(b"data: "), 402)  # 400 tokens, the finish reason, [DONE]

    def test_3_a_stopped_replica_is_left_out(self):
        gone, left = self.replicas
        self.assertEqual(gone.stop(signal.SIGTERM), 0, gone.output())
        before = left.metrics()[OK]
        n = 8
        for i in range(n):
            if i % 2:
                status, headers, raw = post_stream(self.lb, "/v1/chat/completions",
                                                   {"messages": CHAT_QUESTION, "max_tokens": 32,
                                                    "temperature": 0, "stream": True})
                self.assertEqual(status, 200, f"{raw[:300]!r}\n{self.lb.log()}")
                self.assertEqual(stream_text(sse_payloads(self, raw), chat=True), "The answer is: 4")
            else:
                r = self.complete(prompt=COUNT_PROMPT, max_tokens=8, temperature=0)
                self.assertEqual(r["choices"][0]["text"], " 9, 10, ")
        # Every request went to the replica that is left.
        self.wait_ok_counts([before + n], [left])


if __name__ == "__main__":
    unittest.main()
