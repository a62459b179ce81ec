"""The web viewer in a real browser: headless Chromium against the real `keytok serve`.

Each case opens the page the server serves at /, fills the form, presses Send, waits until the page
says the stream is done, checks what the page shows against a non-stream request for the same
parameters (greedy decoding and greedy branching are deterministic), and saves a screenshot.

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        build/venv/bin/python tests/server/browser_test.py

Environment:
    KEYTOK_WEB_DIR          serve the viewer from this folder (--web-dir) instead of the copy
                            embedded in the binary; for working on web/ without a rebuild
    KEYTOK_TEST_ARTIFACTS   folder for the screenshots (default: a new temporary folder)
    KEYTOK_CHROMIUM, KEYTOK_CHROMEDRIVER   browser and driver (default: Debian's /usr/bin ones)
"""
import json
import os
import re
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keytok_server import KeytokServer  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

PROMPT = "What is 7 times 8?"
# A low entropy threshold (nats over the full vocabulary): SmolLM2 135M spends well over 0.5 nats
# on several tokens of any answer, so key tokens are certain, and branch certainly forks.
THRESHOLD = 0.5
STREAM_TIMEOUT_S = 240  # one thread makes ~50-100 tokens/s; this leaves a wide margin
PROB_RE = re.compile(r"\d+\.\d+%")


def text_of(element):
    """Text as in the DOM (textContent): unlike .text it keeps spaces and newlines as they are."""
    return element.get_attribute("textContent")


class ViewerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        web_dir = os.environ.get("KEYTOK_WEB_DIR")
        args = ("--web-dir", web_dir) if web_dir else ()
        cls.server = KeytokServer(*args)
        cls.server.__enter__()
        cls.addClassCleanup(cls.server.__exit__, None, None, None)
        print(f"server {cls.server.url} (viewer from {web_dir or 'the binary'})", flush=True)

        cls.artifacts = os.environ.get("KEYTOK_TEST_ARTIFACTS") or tempfile.mkdtemp(prefix="keytok-browser-")
        os.makedirs(cls.artifacts, exist_ok=True)

        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("KEYTOK_CHROMIUM", "/usr/bin/chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1100"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(os.environ.get("KEYTOK_CHROMEDRIVER", "/usr/bin/chromedriver"))
        cls.driver = webdriver.Chrome(service=service, options=options)
        cls.addClassCleanup(cls.driver.quit)

    # ---- helpers ----------------------------------------------------------------------------

    def setUp(self):
        self.started = time.time()
        self.allowed_console = []  # console errors this case expects (regexes)

    def open_page(self):
        d = self.driver
        d.get(self.server.url + "/")
        # The model line is filled from GET /v1/models once the script runs.
        WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "model").get_attribute("data-model"))
        self.addCleanup(self.check_console)

    def fill(self, strategy, max_tokens, temperature=0, threshold=THRESHOLD, prune_gap=None, prompt=PROMPT):
        d = self.driver
        d.find_element(By.ID, "prompt").clear()
        d.find_element(By.ID, "prompt").send_keys(prompt)
        Select(d.find_element(By.ID, "strategy")).select_by_value(strategy)
        for field, value in (("max-tokens", max_tokens), ("temperature", temperature),
                             ("entropy-threshold", threshold), ("prune-gap", prune_gap)):
            box = d.find_element(By.ID, field)
            box.clear()
            if value is not None:
                box.send_keys(str(value))

    def send_and_wait(self):
        """Presses Send and waits for the page to settle; returns the #status text."""
        d = self.driver
        d.find_element(By.ID, "send").click()
        WebDriverWait(d, STREAM_TIMEOUT_S).until(
            lambda d: d.find_element(By.ID, "status").text in ("done", "error", "stopped"))
        return d.find_element(By.ID, "status").text

    def expect_done(self):
        status = self.send_and_wait()
        error = self.driver.find_element(By.ID, "error")
        self.assertEqual(status, "done", f"the page says {status!r}; #error: {text_of(error)!r}")
        self.assertFalse(error.is_displayed(), text_of(error))

    def screenshot(self, name):
        path = os.path.join(self.artifacts, f"{name}.png")
        self.driver.save_screenshot(path)
        print(f"screenshot: {path}", flush=True)

    def check_console(self):
        """No script errors in the page (the browser's console, level SEVERE)."""
        severe = [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        unexpected = [m for m in severe if not any(re.search(a, m) for a in self.allowed_console)]
        self.assertEqual(unexpected, [], "errors in the browser console")

    def reference(self, strategy, max_tokens, temperature=0, threshold=THRESHOLD, prune_gap=None, prompt=PROMPT):
        """The same request as the page's, without streaming: (HTTP status, JSON body)."""
        keytok = {"strategy": strategy, "annotate": True, "tree": True}
        if threshold is not None:
            keytok.update({"key-rule": "entropy", "entropy-threshold": threshold})
        if prune_gap is not None:
            keytok["prune-gap"] = prune_gap
        body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                "temperature": temperature, "seed": 0, "keytok": keytok}
        return self.server.post_json("/v1/chat/completions", body)

    def cost(self):
        """The cost panel as {figure: text}."""
        d = self.driver
        names = [text_of(e) for e in d.find_elements(By.CSS_SELECTOR, "#cost dt")]
        return dict(zip(names, (text_of(e) for e in d.find_elements(By.CSS_SELECTOR, "#cost dd"))))

    def hover_and_read_tooltip(self, element):
        d = self.driver
        ActionChains(d).move_to_element(element).perform()
        tip = d.find_element(By.ID, "tooltip")
        WebDriverWait(d, 10).until(lambda d: tip.is_displayed() and text_of(tip))
        return tip.text

    # ---- cases ------------------------------------------------------------------------------

    def test_1_greedy_tokens_match_the_server(self):
        """Greedy: every token a span, their text is the answer, key flags are the server's."""
        d = self.driver
        self.open_page()
        self.fill("greedy", 40)
        self.addCleanup(self.screenshot, "greedy-tooltip")
        self.expect_done()
        self.screenshot("greedy")

        spans = d.find_elements(By.CSS_SELECTOR, "#answer .tok")
        self.assertGreaterEqual(len(spans), 1)
        pieces = [text_of(s) for s in spans]
        answer_text = text_of(d.find_element(By.ID, "answer-text"))
        self.assertEqual("".join(pieces), answer_text)

        status, ref = self.reference("greedy", 40)
        self.assertEqual(status, 200, ref)
        choice = ref["choices"][0]
        self.assertEqual(answer_text, choice["message"]["content"])
        ref_tokens = choice["keytok"]["tokens"]
        self.assertEqual(pieces, [t["token"] for t in ref_tokens])
        page_keys = [i for i, s in enumerate(spans) if "key" in s.get_attribute("class").split()]
        self.assertEqual(page_keys, [i for i, t in enumerate(ref_tokens) if t["key"]])
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#answer .tok.key")), len(page_keys))

        # Each span is coloured by its entropy.
        self.assertTrue(all(s.value_of_css_property("background-color") not in ("", "rgba(0, 0, 0, 0)")
                            for s in spans))
        # Cost from the last keytok object.
        ref_cost = choice["keytok"]["cost"]
        cost = self.cost()
        self.assertEqual(cost["generated tokens"], str(ref_cost["generated_tokens"]))
        self.assertEqual(cost["decode calls"], str(ref_cost["decode_calls"]))

        # Hover: the tooltip lists the alternatives with their probabilities.
        tip = self.hover_and_read_tooltip(spans[0])
        self.assertRegex(tip, PROB_RE)
        self.assertIn("entropy", tip)
        self.assertIn("margin", tip)
        top = ref_tokens[0]["top"]
        self.assertGreaterEqual(len(top), 2)
        self.assertIn(f"{100 * top[1]['prob']:.1f}%", tip)

    def test_2_greedy_flags_key_tokens(self):
        """With a 0.5-nat entropy rule the greedy answer has key tokens, outlined as .tok.key."""
        d = self.driver
        self.open_page()
        self.fill("greedy", 40)
        self.expect_done()
        status, ref = self.reference("greedy", 40)
        self.assertEqual(status, 200, ref)
        ref_tokens = ref["choices"][0]["keytok"]["tokens"]
        entropic = [i for i, t in enumerate(ref_tokens) if t["entropy"] >= THRESHOLD]
        self.assertTrue(entropic, "the reference answer has no token with entropy >= 0.5 nats")
        keys = d.find_elements(By.CSS_SELECTOR, "#answer .tok.key")
        self.assertGreaterEqual(len(keys), 1, f"no key token on the page; tokens {entropic} of the server's "
                                              f"answer have entropy >= {THRESHOLD} nats, yet it flags "
                                              f"{sum(t['key'] for t in ref_tokens)} of them")
        self.assertNotEqual(keys[0].value_of_css_property("outline-style"), "none")

    def test_3_branch_draws_the_tree_and_vote(self):
        """Branch with a low threshold: several path rows, forks, the vote, all as the server says."""
        d = self.driver
        self.open_page()
        self.fill("branch", 32)
        self.addCleanup(self.screenshot, "branch-tooltip")
        self.expect_done()
        self.screenshot("branch")

        status, ref = self.reference("branch", 32)
        self.assertEqual(status, 200, ref)
        tree = ref["choices"][0]["keytok"]["tree"]
        rows = d.find_elements(By.CSS_SELECTOR, "#tree .path")
        forks = d.find_elements(By.CSS_SELECTOR, "#tree .fork")
        self.assertGreaterEqual(len(rows), 2)
        self.assertGreaterEqual(len(forks), 1)
        self.assertEqual(len(rows), len(tree["paths"]))
        self.assertEqual(len(forks), len(tree["forks"]))
        self.assertEqual(sorted(int(r.get_attribute("data-path")) for r in rows),
                         sorted(p["id"] for p in tree["paths"]))

        # The vote: tallies, and the chosen path highlighted in the tree and the tally list.
        vote = d.find_element(By.ID, "vote")
        self.assertTrue(vote.is_displayed())
        self.assertIn(f"chosen: path {tree['vote']['chosen_path']}", vote.text)
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#vote .tally")), len(tree["vote"]["tallies"]))
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#vote .tally.chosen")), 1)
        chosen = d.find_elements(By.CSS_SELECTOR, "#tree .path.chosen")
        self.assertEqual([int(r.get_attribute("data-path")) for r in chosen], [tree["vote"]["chosen_path"]])

        # The answer: the chosen path's tokens (its shared prefix included) and its key flags.
        spans = d.find_elements(By.CSS_SELECTOR, "#answer .tok")
        answer_text = text_of(d.find_element(By.ID, "answer-text"))
        self.assertEqual("".join(text_of(s) for s in spans), answer_text)
        self.assertEqual(answer_text, ref["choices"][0]["message"]["content"])
        path = next(p for p in tree["paths"] if p["id"] == tree["vote"]["chosen_path"])
        page_keys = [i for i, s in enumerate(spans) if "key" in s.get_attribute("class").split()]
        self.assertEqual(page_keys, path["key_positions"])
        self.assertGreaterEqual(len(d.find_elements(By.CSS_SELECTOR, "#tree .cell.key")), 1)

        ref_cost = ref["choices"][0]["keytok"]["cost"]
        cost = self.cost()
        self.assertEqual(cost["forks"], str(ref_cost["forks"]))
        self.assertEqual(cost["generated tokens"], str(ref_cost["generated_tokens"]))

        # Hover on a fork dot: its alternatives, their probabilities and the child paths.
        tip = self.hover_and_read_tooltip(forks[0].find_element(By.CSS_SELECTOR, "circle"))
        self.assertRegex(tip, PROB_RE)
        self.assertIn("\u2192 path", tip)

    def test_4_branch_greys_pruned_paths(self):
        """Branch with a tight prune gap: the paths the server prunes are the grey rows."""
        d = self.driver
        self.open_page()
        self.fill("branch", 32, prune_gap=0.05)
        self.addCleanup(self.screenshot, "branch-pruned")
        self.expect_done()
        status, ref = self.reference("branch", 32, prune_gap=0.05)
        self.assertEqual(status, 200, ref)
        paths = ref["choices"][0]["keytok"]["tree"]["paths"]
        pruned = sorted(p["id"] for p in paths if p["stop_reason"] in ("pruned", "low_confidence"))
        self.assertGreaterEqual(len(pruned), 1, "the server pruned no path; the case tests nothing")
        rows = d.find_elements(By.CSS_SELECTOR, "#tree .path")
        self.assertEqual(len(rows), len(paths))
        grey = d.find_elements(By.CSS_SELECTOR, "#tree .path.pruned")
        self.assertEqual(sorted(int(r.get_attribute("data-path")) for r in grey), pruned)
        self.assertLess(float(grey[0].value_of_css_property("opacity")), 1.0)

    def test_5_self_consistency_rows_and_vote(self):
        """sc:4 samples four independent paths: four rows, no fork, a vote over four."""
        d = self.driver
        self.open_page()
        self.fill("sc:4", 24, temperature=0.8, threshold=None)
        self.addCleanup(self.screenshot, "sc4")
        self.expect_done()
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#tree .path")), 4)
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#tree .fork"), [])
        counts = [int(text_of(c)) for c in d.find_elements(By.CSS_SELECTOR, "#vote .tally .count")]
        self.assertEqual(sum(counts), 4)
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#tree .path.chosen")), 1)
        spans = d.find_elements(By.CSS_SELECTOR, "#answer .tok")
        self.assertGreaterEqual(len(spans), 1)
        self.assertEqual("".join(text_of(s) for s in spans), text_of(d.find_element(By.ID, "answer-text")))
        self.assertEqual(self.cost()["peak live paths"], "4")

    def test_6_server_error_is_shown(self):
        """max_tokens 0: the server's 400 message appears in #error."""
        d = self.driver
        self.open_page()
        self.allowed_console.append(r"status of 400")  # Chrome logs the failed fetch itself
        self.fill("greedy", 0)
        self.addCleanup(self.screenshot, "error")
        status = self.send_and_wait()
        status_code, ref = self.reference("greedy", 0)
        self.assertEqual(status_code, 400, ref)
        message = ref["error"]["message"]
        self.assertIn("max_tokens", message)
        self.assertEqual(status, "error")
        error = d.find_element(By.ID, "error")
        self.assertTrue(error.is_displayed())
        self.assertIn(message, error.text)
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#answer .tok"), [])

    def test_7_stream_error_event_is_shown(self):
        """A `data: {"error":...}` event mid-stream (as complete_stream sends when a run fails) goes
        to #error. No request makes the real server fail after its 200, so fetch is stubbed here."""
        d = self.driver
        self.open_page()
        message = "the KV cache is full (stubbed)"
        d.execute_script("""
            const body = 'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\\n\\n' +
                         'data: {"error":{"message":"' + arguments[0] + '","type":"server_error"}}\\n\\n' +
                         'data: [DONE]\\n\\n';
            window.fetch = () => Promise.resolve(new Response(body, {
                status: 200, headers: {"Content-Type": "text/event-stream"}}));
        """, message)
        self.fill("greedy", 8)
        status = self.send_and_wait()
        self.assertEqual(status, "error")
        error = d.find_element(By.ID, "error")
        self.assertTrue(error.is_displayed())
        self.assertIn(message, error.text)
        self.assertEqual(text_of(d.find_element(By.ID, "answer-text")), "Hi")

    def tearDown(self):
        print(f"{self.id().rsplit('.', 1)[-1]}: {time.time() - self.started:.1f} s", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
