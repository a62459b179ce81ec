"""keytok serve with bounded KV memory (--kv-policy, docs/kv.md).

A prompt several times longer than the budget is answered, token for token, as `keytok
generate` answers it under the same policy (the server and the CLI share one eviction path
inside Session); /v1/models names the policy; /metrics shows the evictions and, once the
request is done, no cell in use. A fractional budget, which needs a text, stops the server at
start with the CLI's message.

    KEYTOK_BINARY=build/bin/keytok build/venv/bin/python tests/server/kv_test.py
"""
import json
import os
import subprocess
import unittest

from keytok_server import KeytokServer

BINARY = os.environ.get("KEYTOK_BINARY", "build/bin/keytok")
MODEL = os.environ.get("KEYTOK_TEST_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf")
KV = ["--kv-policy", "keytoken", "--kv-budget", "64", "--kv-window", "16"]
# About 250 tokens: more than three times the budget, so the prompt alone is evicted from several times.
PROMPT = ("The lighthouse keeper wrote down every ship that passed. " * 24) + "The last ship was called"
TOKENS = 12


class KvServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KeytokServer(*KV)
        cls.srv.__enter__()
        cls.addClassCleanup(cls.srv.__exit__, None, None, None)

    def test_models_names_the_policy(self):
        status, body = self.srv.post_json("/v1/completions", {"prompt": "Hi", "max_tokens": 1})
        self.assertEqual(status, 200)
        status, _, raw = self.srv.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        meta = json.loads(raw)["data"][0]["meta"]
        self.assertEqual((meta["kv_policy"], meta["kv_budget"]), ("keytoken", 64))

    def test_a_long_prompt_matches_the_cli_under_the_same_policy(self):
        before = self.srv.metrics()
        status, body = self.srv.post_json("/v1/completions", {"prompt": PROMPT, "max_tokens": TOKENS,
                                                              "temperature": 0})
        self.assertEqual(status, 200, body)
        self.assertGreater(body["usage"]["prompt_tokens"], 3 * 64)
        cli = subprocess.run([BINARY, "generate", "-m", MODEL, "-t", "1", "--raw", "--no-auto-calibrate",
                              "--max-tokens", str(TOKENS), "-p", PROMPT] + KV,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertEqual(body["choices"][0]["text"], cli.stdout.rstrip("\n"))
        after = self.srv.metrics()
        self.assertGreater(after["keytok_kv_cells_evicted_total"], before["keytok_kv_cells_evicted_total"])
        self.assertEqual(after["keytok_kv_cells_in_use"], 0)
        # The pool is the budget for each of the server's --sequences (64 by default).
        self.assertEqual(after["keytok_kv_cells"], 64 * 64)


class KvServerBadBudget(unittest.TestCase):
    def test_a_fraction_is_refused_at_start(self):
        r = subprocess.run([BINARY, "serve", "-m", MODEL, "--port", "1", "--kv-policy", "window",
                            "--kv-budget", "25%"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip().splitlines()[-1],
                         "keytok serve: error: --kv-budget 25% is a fraction of a text, and this command has "
                         "none; give cells, e.g. 1024")


if __name__ == "__main__":
    unittest.main()
