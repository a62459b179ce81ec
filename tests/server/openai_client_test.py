"""The official openai Python client against keytok serve: completions, chat, streaming chat,
the keytok extension through extra_body, errors as the client's exception types, and an API key.

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        build/venv/bin/python tests/server/openai_client_test.py
"""
import unittest

import openai
from openai import OpenAI

from keytok_server import KeytokServer

MODEL_ID = "SmolLM2-135M-Instruct.Q4_1"
CHAT_QUESTION = [{"role": "user", "content": "What is 2+2?"}]


def start_server(test_class, *args):
    srv = KeytokServer(*args)
    srv.__enter__()
    test_class.addClassCleanup(srv.__exit__, None, None, None)
    return srv


def client(srv, api_key="unused"):
    # max_retries=0: a failure shows at once instead of after the client's backoff.
    return OpenAI(base_url=srv.url + "/v1", api_key=api_key, max_retries=0, timeout=120)


class OpenAIClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_server(cls)
        cls.client = client(cls.srv)
        # Cleanups run last-in first-out: the client's pooled keep-alive connections close before
        # the server stops (an idle keep-alive connection holds the stop for 5 s).
        cls.addClassCleanup(cls.client.close)

    def test_models(self):
        models = self.client.models.list()
        self.assertEqual([m.id for m in models.data], [MODEL_ID])
        self.assertEqual(models.data[0].owned_by, "keytok")

    def test_completion(self):
        r = self.client.completions.create(model=MODEL_ID, prompt="The capital of France is", max_tokens=5,
                                           temperature=0, logprobs=2)
        self.assertEqual(r.object, "text_completion")
        self.assertEqual(len(r.choices), 1)
        c = r.choices[0]
        self.assertEqual(c.finish_reason, "length")
        self.assertEqual(c.text, " Paris.\n\nThe")
        self.assertEqual(c.logprobs.tokens, [" Paris", ".", "\n", "\n", "The"])
        self.assertEqual(len(c.logprobs.top_logprobs), 5)
        self.assertEqual((r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens), (5, 5, 10))

    def test_chat(self):
        r = self.client.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=32,
                                                temperature=0, logprobs=True, top_logprobs=2)
        self.assertEqual(r.object, "chat.completion")
        c = r.choices[0]
        self.assertEqual(c.message.role, "assistant")
        self.assertEqual(c.message.content, "The answer is: 4")
        self.assertEqual(c.finish_reason, "stop")
        self.assertEqual("".join(t.token for t in c.logprobs.content), c.message.content)
        self.assertTrue(all(len(t.top_logprobs) == 2 for t in c.logprobs.content))
        self.assertEqual(r.usage.completion_tokens, len(c.logprobs.content))

    def test_chat_with_system_message_and_n(self):
        r = self.client.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "system", "content": "Answer briefly."}] + CHAT_QUESTION,
            max_tokens=4, temperature=0.8, n=2, seed=3)
        self.assertEqual([c.index for c in r.choices], [0, 1])

    def test_streaming_chat(self):
        whole = self.client.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=32,
                                                    temperature=0)
        stream = self.client.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=32,
                                                     temperature=0, stream=True,
                                                     stream_options={"include_usage": True})
        chunks = list(stream)
        self.assertTrue(all(c.object == "chat.completion.chunk" for c in chunks))
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        self.assertEqual(text, whole.choices[0].message.content)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        self.assertEqual(finishes, ["stop"])
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual(chunks[-1].usage.completion_tokens, whole.usage.completion_tokens)
        self.assertEqual(chunks[-1].usage.prompt_tokens, whole.usage.prompt_tokens)

    def test_streaming_completion(self):
        stream = self.client.completions.create(model=MODEL_ID, prompt="The capital of France is", max_tokens=5,
                                                temperature=0, stream=True)
        chunks = list(stream)
        self.assertEqual("".join(c.choices[0].text for c in chunks if c.choices), " Paris.\n\nThe")

    def test_keytok_extension_through_extra_body(self):
        r = self.client.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=4,
                                                temperature=0, extra_body={"keytok": {"annotate": True}})
        k = r.choices[0].model_extra["keytok"]
        self.assertEqual(k["strategy"], "greedy")
        self.assertEqual(len(k["tokens"]), r.usage.completion_tokens)
        self.assertEqual("".join(t["token"] for t in k["tokens"]), r.choices[0].message.content)

    def test_bad_request_is_bad_request_error_with_the_servers_message(self):
        with self.assertRaises(openai.BadRequestError) as cm:
            self.client.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=4,
                                                frequency_penalty=1.0)
        e = cm.exception
        self.assertEqual(e.status_code, 400)
        self.assertEqual(e.message, "Error code: 400 - frequency_penalty is not supported; leave it out or set it to 0")
        self.assertEqual(e.body, {"message": "frequency_penalty is not supported; leave it out or set it to 0",
                                  "type": "invalid_request_error", "param": "frequency_penalty", "code": None})
        self.assertEqual(e.param, "frequency_penalty")
        self.assertEqual(e.type, "invalid_request_error")
        with self.assertRaises(openai.BadRequestError) as cm:
            self.client.completions.create(model=MODEL_ID, prompt="x", max_tokens=5000)
        self.assertEqual(cm.exception.body["message"], "max_tokens must be an integer in 1..4096 (got 5000)")
        self.assertEqual(cm.exception.param, "max_tokens")

    def test_unknown_path_is_not_found_error(self):
        with self.assertRaises(openai.NotFoundError) as cm:
            self.client.embeddings.create(model=MODEL_ID, input="hi")
        self.assertEqual(cm.exception.status_code, 404)
        self.assertEqual(cm.exception.body["message"],
                         "no such endpoint; see GET /v1/models, POST /v1/completions, POST /v1/chat/completions")


class OpenAIClientWithKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_server(cls, "--api-key", "SECRET")

    def test_right_key(self):
        c = client(self.srv, "SECRET")
        self.addCleanup(c.close)
        self.assertEqual([m.id for m in c.models.list().data], [MODEL_ID])
        r = c.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=3, temperature=0)
        self.assertEqual(r.choices[0].message.content, "The answer is")
        chunks = list(c.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=3,
                                                temperature=0, stream=True))
        self.assertEqual("".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices), "The answer is")

    def test_wrong_key_is_authentication_error(self):
        c = client(self.srv, "WRONG")
        self.addCleanup(c.close)
        with self.assertRaises(openai.AuthenticationError) as cm:
            c.chat.completions.create(model=MODEL_ID, messages=CHAT_QUESTION, max_tokens=3)
        self.assertEqual(cm.exception.status_code, 401)
        self.assertEqual(cm.exception.body, {"message": "the API key is not valid", "type": "authentication_error",
                                             "param": None, "code": None})


if __name__ == "__main__":
    unittest.main()
