"""Starts the real `keytok serve` binary on a free loopback port for a test, and stops it.

Used by every test under tests/server/. The binary and model come from the environment that
ctest sets (KEYTOK_BINARY, KEYTOK_TEST_MODEL), so a test can also be run by hand:

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        build/venv/bin/python tests/server/api_test.py
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KeytokServer:
    """`with KeytokServer(extra_args) as srv:` -> srv.url, srv.port; stop() checks exit 0."""

    def __init__(self, *args, env=None, ready_timeout=300, model=None):
        self.binary = os.environ.get("KEYTOK_BINARY", "build/bin/keytok")
        self.model = model or os.environ.get("KEYTOK_TEST_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.ready_timeout = ready_timeout
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="keytok-serve-", suffix=".log", delete=False)

    def __enter__(self):
        if not os.path.exists(self.model):
            raise RuntimeError(f"test model {self.model} is missing; run scripts/fetch_models.sh --tests")
        # --no-auto-calibrate: the fixed default rule (entropy >= 2 nats), so that a fresh cache
        # does not make the first test calibrate SmolLM2 for two minutes.
        cmd = [self.binary, "serve", "-m", self.model, "--port", str(self.port), "--threads", "1",
               "--ctx", "4096", "--no-auto-calibrate"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + self.ready_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keytok serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError(f"keytok serve did not become ready in {self.ready_timeout} s:\n{self.output()}")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends `sig` and returns the exit code (the server must exit by itself)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"keytok serve did not exit {timeout} s after {sig!r}:\n{self.output()}")
        return self.proc.returncode

    def wait(self, timeout=60):
        """Waits for an exit that a signal already started; returns the exit code. (A second
        signal would make the server exit at once, with code 1.)"""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"keytok serve did not exit within {timeout} s:\n{self.output()}")

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is None and code != 0:
            raise RuntimeError(f"keytok serve exited with {code} after SIGTERM:\n{self.output()}")
        if exc[0] is None:
            os.unlink(self.log.name)  # kept only when something went wrong, for the reader
        return False

    def output(self):
        self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    # Small HTTP helpers (no third-party package needed).
    def request(self, method, path, body=None, headers=None, raw=None, timeout=300):
        """Returns (status, headers, body bytes)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def post_json(self, path, body, **kw):
        status, headers, data = self.request("POST", path, body, **kw)
        return status, json.loads(data) if data else None

    def metrics(self):
        status, _, data = self.request("GET", "/metrics")
        assert status == 200, status
        out = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out
