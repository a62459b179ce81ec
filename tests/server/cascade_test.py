"""keytok serve with a large model (--big-model): the cascade strategy through the API.

The server runs Qwen2.5-Coder-0.5B with the 1.5B as its large model (one tokenizer). Checked:
with every position key the answer is the 1.5B model's greedy answer, token for token, as
`keytok generate` gives it; the cost object reports the large model's decisions; a streamed
cascade with rollback sends its rollback events and ends with the same text as a whole response;
a large model of another vocabulary stops the server at start with the CLI's message.

    KEYTOK_BINARY=build/bin/keytok build/venv/bin/python tests/server/cascade_test.py
"""
import json
import os
import subprocess
import unittest
import urllib.request

from keytok_server import KeytokServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = os.path.join(ROOT, "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
LARGE = os.path.join(ROOT, "models", "qwen2.5-coder-1.5b-instruct.gguf")
SMOL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
# The two models part at the second token of the answer (tests/model/cascade_model_test.cpp).
PROMPT = "Write one sentence about the sea."
TOKENS = 12


def post(srv, body):
    req = urllib.request.Request(srv.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.status, r.read()


def chat(**keytok):
    return {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": TOKENS, "temperature": 0,
            "keytok": keytok}


class CascadeServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KeytokServer("--big-model", LARGE, model=SMALL)
        cls.srv.__enter__()
        cls.addClassCleanup(cls.srv.__exit__, None, None, None)

    def test_every_position_key_gives_the_large_models_greedy_answer(self):
        status, raw = post(self.srv, chat(strategy="cascade", **{"key-rule": "entropy", "entropy-threshold": 0}))
        self.assertEqual(status, 200)
        body = json.loads(raw)
        binary = os.environ.get("KEYTOK_BINARY", "build/bin/keytok")
        cli = subprocess.run([binary, "generate", "-m", LARGE, "-t", "1", "--ctx", "4096", "--max-tokens",
                              str(TOKENS), "-p", PROMPT], capture_output=True, text=True, timeout=300)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertEqual(body["choices"][0]["message"]["content"], cli.stdout.rstrip("\n"))
        cost = body["choices"][0]["keytok"]["cost"]
        self.assertEqual(cost["large_decisions"], TOKENS)
        self.assertEqual(cost["generated_tokens"], TOKENS)
        self.assertEqual(cost["rollbacks"], 0)
        self.assertEqual(body["usage"]["completion_tokens"], TOKENS)

    def test_a_streamed_rollback_is_announced_and_ends_with_the_whole_answer(self):
        knobs = {"strategy": "cascade", "entropy-threshold": 1e6, "rollback": 1.0, "check-every": 4}
        status, raw = post(self.srv, chat(**knobs))
        self.assertEqual(status, 200)
        whole = json.loads(raw)
        cost = whole["choices"][0]["keytok"]["cost"]
        self.assertGreater(cost["rollbacks"], 0)
        body = chat(**knobs)
        body["stream"] = True
        req = urllib.request.Request(self.srv.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            events = [line[6:] for line in r.read().decode().split("\n\n") if line.startswith("data: ")]
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        rollbacks = [ev for c in chunks for ev in c.get("keytok", {}).get("events", []) if ev["type"] == "rollback"]
        self.assertEqual(len(rollbacks), cost["rollbacks"])
        text = "".join(c["choices"][0].get("delta", {}).get("content", "") for c in chunks if c["choices"])
        self.assertEqual(text, whole["choices"][0]["message"]["content"])


class CascadeVocabulary(unittest.TestCase):
    def test_a_large_model_of_another_family_stops_the_server_with_a_clear_error(self):
        srv = KeytokServer("--big-model", SMOL, model=SMALL)
        with self.assertRaises(RuntimeError) as ctx:
            srv.__enter__()
        self.assertIn("keytok serve exited with 1", str(ctx.exception))
        self.assertIn("the models do not share one vocabulary", str(ctx.exception))
        self.assertIn("differ in size (151936 and 49152 tokens)", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
