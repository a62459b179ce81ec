"""Slow and stalled clients must not hold up the others (docs/server.md, "Concurrency").

Each request runs on its own HTTP thread; only its decode steps go to the shared engine thread,
which waits at most a couple of milliseconds for a request that has not brought its step
(engine.hpp, gather_ms). A stream's writes happen on the request's own thread, so a client that
reads slowly, or not at all, blocks that thread only. cpp-httplib gives a blocked write 5 s (its
write timeout: within 5 s the socket must become writable again, which on Linux takes the client
draining about a third of the server's send buffer, by then about 1 MB on loopback); then the
write fails, the request is cancelled at its next step and its KV sequences are freed. So a
client that stops reading is dropped about 5 s after the buffers fill, and one that reads 100
bytes/s some seconds later. A client that sends its request slowly holds one HTTP thread (of
parallel + queue + 4) while the engine serves the others.

What is checked, with raw sockets and a small receive buffer:
- a client that reads a long stream one byte at a time with a pause: greedy requests (whole and
  streamed) complete with the right content and counts while it lags, then the server cuts its
  stream (no [DONE]) and frees its request;
- a client that stops reading: the same;
- a client that sends its request one byte at a time: the others complete while it sends, then it
  gets its answer.

Greedy text under continuous batching is not bit-identical to the same request run alone (see
api_test.py, test_concurrent_streams_complete). What is guaranteed, and asserted: status 200,
well-formed SSE, one finish reason, token counts that match the text; and the tokens up to the
first position where the idle reference run's top-1 and top-2 logprobs are closer than MARGIN
(batching moves a logprob by at most a few tenths of a nat, so it cannot flip a wider gap).

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        PYTHONPATH=tests/server build/venv/bin/python tests/server/slow_client_test.py
"""
import json
import socket
import threading
import time
import unittest

from api_test import COUNT_PROMPT, FRANCE_PROMPT, finish_reasons, post_stream, sse_payloads, \
    start_server, stream_text

MAX_TOKENS = 3000  # the slow client's stream
MARGIN = 1.0  # nats: a reference token whose top-2 gap is at least this cannot change under batching

# The requests that must go through while a client is slow: greedy, whole and streamed, both APIs.
OTHERS = [
    ("/v1/completions", dict(prompt=COUNT_PROMPT, max_tokens=24, temperature=0, logprobs=2)),
    ("/v1/completions", dict(prompt=FRANCE_PROMPT, max_tokens=16, temperature=0, logprobs=2, stream=True)),
    ("/v1/chat/completions", dict(messages=[{"role": "user", "content": "What is the capital of France?"}],
                                  max_tokens=32, temperature=0, logprobs=True, top_logprobs=2, stream=True)),
]


def raw_request(path, body, port):
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data


def small_buffer_socket(port, rcvbuf=1024):
    """A connected socket whose receive buffer is set small before the connection (the window the
    server sees is then small too)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(300)
    sock.connect(("127.0.0.1", port))
    return sock


def split_response(raw):
    """(status, headers dict, body) of a raw HTTP/1.1 response, the chunked body decoded as far as
    it goes (a response cut off in the middle gives the complete chunks)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") != "chunked":
        return status, headers, rest
    body = b""
    while True:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0 or len(rest) < size + 2:
            break
        body += rest[:size]
        rest = rest[size + 2:]
    return status, headers, body


class SlowReader(threading.Thread):
    """Sends `body` on a socket with a small receive buffer and reads the response one byte at a
    time, sleeping `pause` after each, until `fast` is set (then it reads the rest at once) or the
    server closes."""

    def __init__(self, port, path, body, pause, read=True):
        super().__init__(daemon=True)
        self.sock = small_buffer_socket(port)
        self.sock.sendall(raw_request(path, body, port))
        self.pause = pause
        self.read = read
        self.data = b""
        self.started = threading.Event()  # the first byte came
        self.fast = threading.Event()
        self.error = None

    def run(self):
        try:
            if not self.read:
                self.fast.wait()
            while not self.fast.is_set():
                b = self.sock.recv(1)
                if not b:
                    return
                self.data += b
                self.started.set()
                time.sleep(self.pause)
            while True:
                b = self.sock.recv(65536)
                if not b:
                    return
                self.data += b
        except OSError as e:  # a reset by the server is recorded, not raised in the thread
            self.error = e
        finally:
            self.started.set()
            self.sock.close()


def margin_prefix(tokens_with_tops):
    """How many leading tokens of a greedy reference have a top-1 - top-2 logprob gap of at least
    MARGIN: batching noise cannot change those."""
    n = 0
    for top in tokens_with_tops:
        lps = sorted(top, reverse=True)
        if len(lps) < 2 or lps[0] - lps[1] < MARGIN:
            break
        n += 1
    return n


def run_other(srv, i):
    """Runs OTHERS[i] on `srv` and checks its shape: {text, finish, tokens, tops (the top-2
    logprobs of each token), completion_tokens}."""
    path, body = OTHERS[i]
    chat = path.endswith("chat/completions")
    if body.get("stream"):
        status, headers, raw = post_stream(srv, path, dict(body, stream_options={"include_usage": True}))
        assert status == 200, raw[:300]
        assert headers["Content-Type"] == "text/event-stream", headers
        chunks = sse_payloads(unittest.TestCase(), raw)
        reasons = finish_reasons(chunks)
        assert len(reasons) == 1, reasons
        fin = next(ch for c in chunks for ch in c["choices"] if ch["finish_reason"])
        text, lp, usage, finish = stream_text(chunks, chat), fin["logprobs"], chunks[-1]["usage"], reasons[0][1]
    else:
        status, data = srv.post_json(path, body)
        assert status == 200, data
        c = data["choices"][0]
        text = c["message"]["content"] if chat else c["text"]
        lp, usage, finish = c["logprobs"], data["usage"], c["finish_reason"]
    if chat:
        tokens = [e["token"] for e in lp["content"]]
        tops = [[t["logprob"] for t in e["top_logprobs"]] for e in lp["content"]]
    else:
        tokens, tops = lp["tokens"], [list(t.values()) for t in lp["top_logprobs"]]
    return {"text": text, "finish": finish, "tokens": tokens, "tops": tops,
            "completion_tokens": usage["completion_tokens"]}


class SlowClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Room for the three others and a slow one at once.
        cls.srv = start_server(cls, "--parallel", "6")
        cls.reference = [run_other(cls.srv, i) for i in range(len(OTHERS))]  # while the server is idle

    # --- the others ---------------------------------------------------------------------------

    def run_others_concurrently(self):
        results, errors = [None] * len(OTHERS), []

        def run(i):
            try:
                results[i] = run_other(self.srv, i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{OTHERS[i][0]}: {e!r}")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(OTHERS))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual(errors, [])
        return results

    def check_others(self, results):
        for i, (got, ref) in enumerate(zip(results, self.reference)):
            with self.subTest(request=i, path=OTHERS[i][0]):
                max_tokens = OTHERS[i][1]["max_tokens"]
                self.assertIn(got["finish"], ("length", "stop"))
                self.assertEqual("".join(got["tokens"]), got["text"])
                self.assertEqual(got["completion_tokens"], len(got["tokens"]))
                self.assertEqual(got["finish"] == "length", got["completion_tokens"] == max_tokens)
                safe = margin_prefix(ref["tops"])
                self.assertGreater(safe, 0, "the reference's first token should be clear-cut")
                self.assertEqual(got["tokens"][:safe], ref["tokens"][:safe])
                if safe == len(ref["tokens"]) and ref["finish"] == "length":
                    # Every choice was clear-cut and the length decides the end: the whole answer.
                    self.assertEqual((got["text"], got["finish"]), (ref["text"], ref["finish"]))
                print(f"\n{OTHERS[i][0]}: {safe} of {len(ref['tokens'])} reference tokens clear-cut; "
                      f"text equal to the idle run: {got['text'] == ref['text']}")

    # --- helpers ------------------------------------------------------------------------------

    def wait_for(self, what, predicate, seconds=120.0):
        deadline = time.time() + seconds
        while not predicate():
            self.assertLess(time.time(), deadline, f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_until_blocked(self):
        """Waits until the slow request holds its slot but the engine no longer decodes for it
        (its thread waits in a write): decode calls stand still for a second while it runs."""
        last, since = None, time.time()
        deadline = time.time() + 120
        while time.time() < deadline:
            m = self.srv.metrics()
            now = (m["keytok_decode_calls_total"], m["keytok_requests_running"])
            if now != last:
                last, since = now, time.time()
            elif now[1] == 1 and time.time() - since >= 1.0:
                return
            time.sleep(0.05)
        self.fail(f"the server never blocked on the slow client (decode calls, running: {last})")

    def cancelled(self):
        return self.srv.metrics()['keytok_requests_total{outcome="cancelled"}']

    def assert_freed(self):
        for name in ("keytok_requests_running", "keytok_kv_sequences_in_use", "keytok_kv_positions_held"):
            self.wait_for(f"{name} == 0", lambda n=name: self.srv.metrics()[n] == 0, seconds=30)

    def others_complete_while_the_client_lags(self, pause, read):
        """Starts a long annotated stream for a client that reads one byte every `pause` seconds
        (or nothing), runs the others while the server is blocked on it, then checks that the
        server gives up on that client: its stream is cut, its request cancelled and freed."""
        before = self.cancelled()
        # Greedy with annotations: each token brings an event of about 1.5 KB (its 20 most
        # likely alternatives), so 3000 tokens are more than Linux lets the socket buffers hold
        # (the sender's grows to 4 MiB at most, net.ipv4.tcp_wmem; on loopback the server got
        # about 700 tokens ahead of a client that does not read).
        body = dict(prompt=COUNT_PROMPT, max_tokens=MAX_TOKENS, temperature=0, stream=True,
                    keytok={"strategy": "greedy"})
        reader = SlowReader(self.srv.port, "/v1/completions", body, pause=pause, read=read)
        reader.start()
        self.wait_until_blocked()
        blocked_at = time.time()
        results = self.run_others_concurrently()
        # The slow client has not finished: it is still reading (or not), far from [DONE].
        self.assertTrue(reader.is_alive())
        self.assertNotIn(b"data: [DONE]", reader.data)
        self.check_others(results)
        # The server gives a blocked write 5 s to find room in the socket; at this pace it never
        # does, so it cancels the request at its next step and frees its KV sequences, while the
        # client still holds the connection.
        self.wait_for("the slow client's request to be cancelled", lambda: self.cancelled() == before + 1)
        cut_after = time.time() - blocked_at
        self.assert_freed()
        self.assertTrue(reader.is_alive())
        lagging = len(reader.data)
        reader.fast.set()  # read what the kernel still holds, up to the server's close
        reader.join(60)
        self.assertFalse(reader.is_alive())
        self.assertIsNone(reader.error)
        status, headers, stream = split_response(reader.data)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/event-stream")
        self.assertNotIn(b"data: [DONE]", stream)
        self.assertNotIn(b'"finish_reason":"length"', stream)
        tokens = stream.count(b'"type":"token"')
        self.assertLess(tokens, MAX_TOKENS)
        print(f"\nclient reading a byte every {pause} s (reads: {read}): {lagging} bytes read by the cut, "
              f"{len(reader.data)} sent in all ({tokens} of {MAX_TOKENS} tokens); cancelled about "
              f"{cut_after + 1:.0f} s after its last write began")
        # And the engine goes on serving.
        self.assertEqual(run_other(self.srv, 0)["completion_tokens"], OTHERS[0][1]["max_tokens"])

    # --- the tests ----------------------------------------------------------------------------

    def test_others_complete_while_a_client_reads_one_byte_at_a_time(self):
        self.others_complete_while_the_client_lags(pause=0.01, read=True)

    def test_a_client_that_stops_reading_is_cancelled_and_does_not_stall_the_engine(self):
        self.others_complete_while_the_client_lags(pause=0, read=False)

    def test_a_client_that_sends_its_request_one_byte_at_a_time_does_not_block_others(self):
        body = dict(prompt=FRANCE_PROMPT, max_tokens=6, temperature=0, logprobs=2)
        request = raw_request("/v1/completions", body, self.srv.port)
        sock = small_buffer_socket(self.srv.port)
        sent = 0
        try:
            # Everything but the last byte of the body, one byte at a time (well within the
            # server's 5 s read timeout per byte); the others then run while it waits.
            for sent in range(len(request) - 1):
                sock.sendall(request[sent:sent + 1])
                time.sleep(0.01)
                if sent == len(request) // 2:
                    results = self.run_others_concurrently()
            self.check_others(results)
            sock.sendall(request[-1:])
            raw = b""
            while True:
                b = sock.recv(65536)
                if not b:
                    break
                raw += b
        finally:
            sock.close()
        status, _, data = split_response(raw)
        self.assertEqual(status, 200, data[:300])
        r = json.loads(data)
        self.assertEqual(r["usage"]["completion_tokens"], 6)
        alone = self.srv.post_json("/v1/completions", body)[1]
        self.assertEqual(r["choices"][0]["text"], alone["choices"][0]["text"])  # nothing else ran with it


if __name__ == "__main__":
    unittest.main()
