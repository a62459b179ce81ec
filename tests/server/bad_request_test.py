"""Bad requests to keytok serve: each gets its exact 4xx status and an OpenAI-shaped error naming
what was wrong, and the server goes on serving afterwards (docs/server.md, "Errors").

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        build/venv/bin/python tests/server/bad_request_test.py
"""
import http.client
import json
import re
import unittest
from unittest import mock

import keytok_server
from keytok_server import KeytokServer

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MESSAGES = [{"role": "user", "content": "hi"}]
KNOWN_KEYTOK = ("strategy, budget, alternatives, min-alt-prob, max-live, max-paths, min-fork-distance, prune-gap, "
                "merge-after, stop-agree, warmup, window, keep-percent, consensus, combine, match, key-rule, "
                "entropy-threshold, margin-threshold, rollback, check-every, max-decisions, annotate, tree")


def chat(**fields):
    return json.dumps({"messages": MESSAGES, "max_tokens": 1, **fields}).encode()


# (name, method, path, raw body, status, message (a str: exact; a compiled regex: full match),
#  param). Every body would be a good request but for the one thing named.
CASES = [
    ("invalid_json", "POST", CHAT, b'{"messages": [', 400,
     re.compile(r"the request body is not valid JSON \(\[json\.exception\.parse_error\.101\] .*\)"), None),
    ("trailing_garbage", "POST", CHAT, chat() + b"xyz", 400,
     re.compile(r"the request body is not valid JSON \(.*expected end of input\)"), None),
    ("empty_body", "POST", CHAT, b"", 400,
     re.compile(r"the request body is not valid JSON \(.*\)"), None),
    ("json_array_body", "POST", CHAT, b'[{"messages": []}]', 400, "the request body must be a JSON object", None),
    ("json_string_body", "POST", COMPLETIONS, b'"hello"', 400, "the request body must be a JSON object", None),
    ("invalid_utf8_in_a_string", "POST", CHAT,
     b'{"messages": [{"role": "user", "content": "a\xff\xfeb"}]}', 400,
     re.compile(r"the request body is not valid JSON \(.*ill-formed UTF-8 byte.*\)"), None),
    ("lone_surrogate_escape", "POST", CHAT,
     b'{"messages": [{"role": "user", "content": "\\ud800"}]}', 400,
     re.compile(r"the request body is not valid JSON \(.*surrogate.*\)"), None),
    ("number_overflow", "POST", CHAT, b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}', 400,
     re.compile(r"the request body is not valid JSON \(.*\)"), None),
    ("messages_a_string", "POST", CHAT, b'{"messages": "hi"}', 400, "messages must be a non-empty array", "messages"),
    ("messages_empty", "POST", CHAT, b'{"messages": []}', 400, "messages must be a non-empty array", "messages"),
    ("messages_missing", "POST", CHAT, b'{"max_tokens": 1}', 400,
     'messages is required: [{"role":"user","content":"..."}]', "messages"),
    ("message_without_role", "POST", CHAT, b'{"messages": [{"content": "x"}]}', 400,
     'each message needs a string "role" and "content"', "messages[0]"),
    ("message_without_content", "POST", CHAT, b'{"messages": [{"role": "user"}]}', 400,
     'each message needs a string "content"', "messages[0].content"),
    ("unknown_role", "POST", CHAT, b'{"messages": [{"role": "tool", "content": "x"}]}', 400,
     'unknown role "tool"; use system, user or assistant', "messages[0].role"),
    ("image_content_part", "POST", CHAT,
     b'{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}', 400,
     'only text content parts ({"type":"text","text":...}) are supported', "messages[0].content"),
    ("prompt_missing", "POST", COMPLETIONS, b'{"max_tokens": 1}', 400, "prompt is required (a string)", "prompt"),
    ("prompt_empty", "POST", COMPLETIONS, b'{"prompt": ""}', 400, "prompt is empty", "prompt"),
    ("prompt_a_number", "POST", COMPLETIONS, b'{"prompt": 123}', 400, "prompt must be a string", "prompt"),
    ("two_prompts", "POST", COMPLETIONS, b'{"prompt": ["a", "b"]}', 400,
     "prompt must be a string (or an array of one string); send one prompt per request", "prompt"),
    ("max_tokens_a_string", "POST", CHAT, chat(max_tokens="ten"), 400,
     'max_tokens must be an integer in 1..4096 (got "ten")', "max_tokens"),
    ("max_tokens_a_fraction", "POST", CHAT, chat(max_tokens=10.5), 400,
     "max_tokens must be an integer in 1..4096 (got 10.5)", "max_tokens"),
    ("max_tokens_negative", "POST", CHAT, chat(max_tokens=-1), 400,
     "max_tokens must be an integer in 1..4096 (got -1)", "max_tokens"),
    ("max_tokens_zero", "POST", COMPLETIONS, b'{"prompt": "x", "max_tokens": 0}', 400,
     "max_tokens must be an integer in 1..4096 (got 0)", "max_tokens"),
    ("max_tokens_over_the_limit", "POST", CHAT, chat(max_tokens=4097), 400,
     "max_tokens must be an integer in 1..4096 (got 4097)", "max_tokens"),
    ("max_tokens_huge", "POST", CHAT, chat(max_tokens=10**15), 400,
     f"max_tokens must be an integer in 1..4096 (got {10**15})", "max_tokens"),
    ("max_completion_tokens_over_the_limit", "POST", CHAT,
     json.dumps({"messages": MESSAGES, "max_completion_tokens": 5000}).encode(), 400,
     "max_completion_tokens must be an integer in 1..4096 (got 5000)", "max_completion_tokens"),
    ("temperature_a_string", "POST", CHAT, chat(temperature="hot"), 400,
     'temperature must be a number in [0, 2] (got "hot")', "temperature"),
    ("temperature_over_2", "POST", CHAT, chat(temperature=2.5), 400,
     "temperature must be a number in [0, 2] (got 2.5)", "temperature"),
    ("top_p_zero", "POST", CHAT, chat(top_p=0), 400, "top_p must be a number in (0, 1] (got 0)", "top_p"),
    ("n_over_max_n", "POST", CHAT, chat(n=9), 400, "n must be an integer in 1..8 (got 9)", "n"),
    ("n_zero", "POST", CHAT, chat(n=0), 400, "n must be an integer in 1..8 (got 0)", "n"),
    ("seed_negative", "POST", CHAT, chat(seed=-1), 400, "seed must be an integer in 0..4294967295 (got -1)", "seed"),
    ("stream_a_string", "POST", CHAT, chat(stream="yes"), 400, 'stream must be true or false (got "yes")', "stream"),
    ("stream_options_not_an_object", "POST", CHAT, chat(stream=True, stream_options=5), 400,
     "stream_options must be an object", "stream_options"),
    ("five_stop_strings", "POST", CHAT, chat(stop=["a", "b", "c", "d", "e"]), 400,
     "stop must be a string or an array of up to 4 strings", "stop"),
    ("model_a_number", "POST", CHAT, chat(model=5), 400, "model must be a string", "model"),
    ("top_logprobs_without_logprobs", "POST", CHAT, chat(top_logprobs=2), 400,
     "top_logprobs needs logprobs: true", "top_logprobs"),
    ("top_logprobs_over_20", "POST", CHAT, chat(logprobs=True, top_logprobs=21), 400,
     "top_logprobs must be an integer in 0..20 (got 21)", "top_logprobs"),
    ("completion_logprobs_a_bool", "POST", COMPLETIONS, b'{"prompt": "x", "logprobs": true}', 400,
     "logprobs must be an integer in 0..20 (got true)", "logprobs"),
    ("unknown_strategy", "POST", CHAT, chat(keytok={"strategy": "beam"}), 400,
     "unknown strategy 'beam'; use greedy, sample, sc:N, branch, deepconf:N or cascade", "keytok.strategy"),
    ("cascade_without_large_model", "POST", CHAT, chat(keytok={"strategy": "cascade"}), 400,
     "strategy cascade needs a large model; start the server with --big-model PATH", "keytok.strategy"),
    ("strategy_over_max_paths", "POST", CHAT, chat(keytok={"strategy": "sc:17"}), 400,
     "this request would decode 17 sequences at once; the server allows 16 per request", "keytok.strategy"),
    ("keytok_not_an_object", "POST", CHAT, chat(keytok="branch"), 400,
     'keytok must be an object, e.g. {"strategy":"branch"}', "keytok"),
    ("keytok_unknown_option", "POST", CHAT, chat(keytok={"beam": 4}), 400,
     f'unknown keytok option "beam"; known: {KNOWN_KEYTOK}', "keytok.beam"),
    ("keytok_option_wrong_type", "POST", CHAT, chat(keytok={"budget": "x"}), 400,
     'keytok.budget must be an integer in 0..1000000 (got "x")', "keytok.budget"),
    ("keytok_unknown_key_rule", "POST", CHAT, chat(keytok={"key-rule": "bogus"}), 400,
     "unknown key rule 'bogus'; use entropy, margin, both or either", "keytok.key-rule"),
    ("keytok_strategy_with_n", "POST", CHAT, chat(n=2, keytok={"strategy": "sc:2"}), 400,
     "n must be 1 with a keytok strategy; the strategy's paths are in keytok.tree", "n"),
    ("tools", "POST", CHAT, chat(tools=[{"type": "function", "function": {"name": "f"}}]), 400,
     "tools is not supported by keytok serve", "tools"),
    ("functions", "POST", CHAT, chat(functions=[{"name": "f"}]), 400,
     "functions is not supported by keytok serve", "functions"),
    ("logit_bias", "POST", CHAT, chat(logit_bias={"1": 5}), 400,
     "logit_bias is not supported by keytok serve", "logit_bias"),
    ("frequency_penalty", "POST", CHAT, chat(frequency_penalty=1.0), 400,
     "frequency_penalty is not supported; leave it out or set it to 0", "frequency_penalty"),
    ("presence_penalty", "POST", CHAT, chat(presence_penalty=0.5), 400,
     "presence_penalty is not supported; leave it out or set it to 0", "presence_penalty"),
    ("echo", "POST", COMPLETIONS, b'{"prompt": "x", "echo": true}', 400, "echo is not supported; leave it out", "echo"),
    ("suffix", "POST", COMPLETIONS, b'{"prompt": "x", "suffix": "y"}', 400,
     "suffix is not supported by keytok serve", "suffix"),
    ("best_of", "POST", COMPLETIONS, b'{"prompt": "x", "best_of": 3}', 400,
     "best_of is not supported (use keytok.strategy sc:N for a vote over N samples)", "best_of"),
    ("get_on_chat", "GET", CHAT, None, 405, "use POST on this endpoint", None),
    ("get_on_completions", "GET", COMPLETIONS, None, 405, "use POST on this endpoint", None),
    ("unknown_v1_path", "POST", "/v1/embeddings", b'{"input": "x"}', 404,
     "no such endpoint; see GET /v1/models, POST /v1/completions, POST /v1/chat/completions", None),
    ("unknown_nested_path", "GET", "/v1/models/x/y", None, 404,
     "no such endpoint; see GET /v1/models, POST /v1/completions, POST /v1/chat/completions", None),
    ("unknown_file", "GET", "/no-such-file.js", None, 404, "no such file: /no-such-file.js", None),
]

# Wrong methods on existing paths: docs/server.md says 405 for a wrong method.
WRONG_METHODS = [("PUT", CHAT), ("DELETE", CHAT), ("PATCH", COMPLETIONS), ("POST", "/v1/models"),
                 ("POST", "/health"), ("POST", "/metrics")]


def padded(n_bytes):
    """A good request (one token) padded with JSON whitespace to n_bytes."""
    body = b'{"prompt": "x", "max_tokens": 1}'
    return b" " * (n_bytes - len(body)) + body


class BadRequestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KeytokServer()
        cls.srv.__enter__()
        cls.addClassCleanup(cls.srv.__exit__, None, None, None)

    def assert_error(self, status, headers, data, want_status, message, param, type_="invalid_request_error"):
        self.assertEqual(status, want_status, data[:500])
        self.assertEqual(headers["Content-Type"], "application/json")
        body = json.loads(data)
        self.assertEqual(set(body), {"error"})
        err = body["error"]
        self.assertEqual(set(err), {"message", "type", "param", "code"})
        if isinstance(message, re.Pattern):
            self.assertRegex(err["message"], message)
            self.assertIsNotNone(message.fullmatch(err["message"]), err["message"])
        else:
            self.assertEqual(err["message"], message)
        self.assertEqual(err["type"], type_)
        self.assertEqual(err["param"], param)
        self.assertIsNone(err["code"])

    def test_wrong_methods_are_405(self):
        for method, path in WRONG_METHODS:
            with self.subTest(method=method, path=path):
                status, headers, data = self.srv.request(method, path, raw=b"{}")
                self.assertEqual(status, 405, data)

    def test_body_over_max_body_is_413(self):
        # 10 MB with a Content-Length: refused from the header, before the body is read.
        status, headers, data = self.srv.request("POST", CHAT, raw=padded(10 * 1024 * 1024))
        self.assert_error(status, headers, data, 413, "the request body is too large; this server takes at most 1048576 bytes (--max-body)", None)
        # Just over the default --max-body (1 MiB), and just under.
        status, headers, data = self.srv.request("POST", COMPLETIONS, raw=padded((1 << 20) + 1))
        self.assert_error(status, headers, data, 413, "the request body is too large; this server takes at most 1048576 bytes (--max-body)", None)
        status, _, data = self.srv.request("POST", COMPLETIONS, raw=padded(1 << 20))
        self.assertEqual(status, 200, data[:300])

    def test_chunked_body_over_max_body_is_413(self):
        # The same limit for a body sent with Transfer-Encoding: chunked (no Content-Length).
        body = padded(2 * 1024 * 1024)
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        try:
            conn.putrequest("POST", COMPLETIONS)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            try:
                for i in range(0, len(body), 1 << 16):
                    part = body[i:i + (1 << 16)]
                    conn.send(b"%x\r\n%s\r\n" % (len(part), part))
                conn.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may refuse before reading it all
            resp = conn.getresponse()
            self.assert_error(resp.status, resp.headers, resp.read(), 413, "the request body is too large; this server takes at most 1048576 bytes (--max-body)", None)
        finally:
            conn.close()

    def test_z_server_serves_after_all_bad_requests(self):
        # Runs last (unittest orders methods by name): every case above has been sent.
        status, data = self.srv.post_json(CHAT, {"messages": MESSAGES, "max_tokens": 3, "temperature": 0})
        self.assertEqual(status, 200, data)
        self.assertEqual(data["choices"][0]["message"]["content"], 'The phrase "')
        self.assertEqual(data["usage"]["completion_tokens"], 3)
        m = self.srv.metrics()
        self.assertEqual(m["keytok_requests_running"], 0)
        self.assertEqual(m["keytok_kv_sequences_in_use"], 0)


def _case_test(name, method, path, raw, status, message, param):
    def test(self):
        got_status, headers, data = self.srv.request(method, path, raw=raw)
        self.assert_error(got_status, headers, data, status, message, param)
    test.__name__ = f"test_{name}"
    return test


for _case in CASES:
    setattr(BadRequestTest, f"test_{_case[0]}", _case_test(*_case))


class SmallContextServer(KeytokServer):
    """The fixture with another --ctx (it passes --ctx 4096, and the CLI takes one --ctx)."""

    def __init__(self, ctx, *args, **kw):
        super().__init__(*args, **kw)
        self.ctx = ctx

    def __enter__(self):
        real_popen = keytok_server.subprocess.Popen

        def popen(cmd, **kw):
            cmd = list(cmd)
            cmd[cmd.index("--ctx") + 1] = str(self.ctx)
            return real_popen(cmd, **kw)

        with mock.patch.object(keytok_server.subprocess, "Popen", popen):
            return super().__enter__()


class SmallContextTest(unittest.TestCase):
    """--ctx 256: prompts over the context, and two requests that together fill the KV pool."""

    @classmethod
    def setUpClass(cls):
        cls.srv = SmallContextServer(256)
        cls.srv.__enter__()
        cls.addClassCleanup(cls.srv.__exit__, None, None, None)

    def test_prompt_over_the_context_is_400(self):
        # "one two " is two tokens; 200 of them make 400 tokens (and 401 with the last space).
        for prompt, n in (("one two " * 200, 401), ("one two " * 128, 257)):
            status, body = self.srv.post_json(COMPLETIONS, {"prompt": prompt, "max_tokens": 1})
            self.assertEqual(status, 400, body)
            self.assertEqual(body["error"], {
                "message": f"the prompt is {n} tokens but the server's context holds 256; shorten it",
                "type": "invalid_request_error", "param": "prompt", "code": None})
        status, body = self.srv.post_json(CHAT, {"messages": [{"role": "user", "content": "one two " * 200}]})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["param"], "messages")
        self.assertRegex(body["error"]["message"],
                         r"^the prompt is \d+ tokens but the server's context holds 256; shorten it$")

    def test_a_prompt_that_fits_runs_until_the_context_is_full(self):
        status, body = self.srv.post_json(COMPLETIONS, {"prompt": "one two " * 127, "max_tokens": 1})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["usage"], {"prompt_tokens": 255, "completion_tokens": 1, "total_tokens": 256})
        status, body = self.srv.post_json(COMPLETIONS, {"prompt": "one two " * 100, "max_tokens": 100,
                                                        "temperature": 0})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["finish_reason"], "length")
        self.assertEqual(body["usage"]["prompt_tokens"], 201)
        self.assertLess(body["usage"]["completion_tokens"], 100)
        self.assertLessEqual(body["usage"]["total_tokens"], 257)

    def test_a_request_that_finds_the_kv_pool_full_is_not_a_server_error(self):
        # Request A (150 prompt tokens) holds cells while it streams; request B (150 more) cannot
        # prefill next to it in 256 cells. B is a valid request: it may wait, end early with
        # finish_reason "length", or be refused as busy (429), but it is not a 500 "keytok bug".
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        try:
            conn.request("POST", COMPLETIONS, headers={"Content-Type": "application/json"},
                         body=json.dumps({"prompt": "one two " * 75, "max_tokens": 60, "temperature": 0,
                                          "stream": True}))
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            resp.readline()  # A is admitted and has prefilled
            status, body = self.srv.post_json(COMPLETIONS, {"prompt": "three four " * 75, "max_tokens": 5,
                                                            "temperature": 0})
            resp.read()
        finally:
            conn.close()
        # B's prefill finds no room next to A: refused as busy, which OpenAI clients retry.
        self.assertEqual((status, body), (429, {"error": {
            "message": "the server's KV cache is full (its cells are shared by all requests in flight); retry "
                       "later, or send a shorter prompt or fewer max_tokens",
            "type": "server_busy", "param": None, "code": None}}))


if __name__ == "__main__":
    unittest.main()
