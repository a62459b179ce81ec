"""Static files of keytok serve: nothing outside the web folder can be read (SECURITY.md).

The server runs with --web-dir on a temporary folder that holds the viewer's files; a secret file
sits next to that folder, and a link inside it points at the secret. Every way of climbing out
that a client can send (dot segments, percent-encoded dots and slashes, backslashes, absolute
paths, the link) gets a 404 and never the secret; the folder's own files are served.

    KEYTOK_BINARY=build/bin/keytok KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        build/venv/bin/python tests/server/static_files_test.py
"""
import http.client
import json
import os
import shutil
import tempfile
import unittest

from keytok_server import KeytokServer

SECRET = "SECRET-5f1c0d"
NO_ENDPOINT = "no such endpoint; see GET /v1/models, POST /v1/completions, POST /v1/chat/completions"

# (raw request path, status, error message). The path goes on the request line as written here.
ESCAPES = [
    ("/../secret.txt", 404, NO_ENDPOINT),
    ("/web/../secret.txt", 404, NO_ENDPOINT),
    ("/%2e%2e/secret.txt", 404, NO_ENDPOINT),
    ("/%2e%2e%2fsecret.txt", 404, NO_ENDPOINT),
    ("/..%2fsecret.txt", 404, NO_ENDPOINT),
    ("/..%5csecret.txt", 404, NO_ENDPOINT),
    ("/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", 404, NO_ENDPOINT),
    ("/..", 404, NO_ENDPOINT),
    ("/.", 404, NO_ENDPOINT),
    ("//etc/passwd", 404, NO_ENDPOINT),
    ("/%2fetc%2fpasswd", 404, NO_ENDPOINT),
    ("/.hidden", 404, NO_ENDPOINT),
    ("/link.txt", 404, "no such file: /link.txt"),
    ("/sub", 404, "no such file: /sub"),
    ("/sub/inner.html", 404, NO_ENDPOINT),
]


class StaticFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="keytok-web-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp)
        web = os.path.join(cls.tmp, "web")
        os.makedirs(os.path.join(web, "sub"))
        with open(os.path.join(cls.tmp, "secret.txt"), "w") as f:
            f.write(SECRET)
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("<p>the test's viewer</p>")
        with open(os.path.join(web, "app.js"), "w") as f:
            f.write("let x = 1;")
        with open(os.path.join(web, ".hidden"), "w") as f:
            f.write(SECRET)
        with open(os.path.join(web, "sub", "inner.html"), "w") as f:
            f.write(SECRET)
        os.symlink(os.path.join(cls.tmp, "secret.txt"), os.path.join(web, "link.txt"))
        cls.srv = KeytokServer("--web-dir", web)
        cls.srv.__enter__()
        cls.addClassCleanup(cls.srv.__exit__, None, None, None)

    def get(self, raw_path):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        try:
            # The path goes on the request line as written: no client-side normalisation.
            conn.putrequest("GET", raw_path, skip_accept_encoding=True)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def test_the_folders_files_are_served(self):
        status, headers, data = self.get("/")
        self.assertEqual((status, data), (200, b"<p>the test's viewer</p>"))
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        status, headers, data = self.get("/app.js")
        self.assertEqual((status, data), (200, b"let x = 1;"))
        self.assertEqual(headers["Content-Type"], "text/javascript; charset=utf-8")

    def test_nothing_outside_the_folder_is_served(self):
        for path, want_status, message in ESCAPES:
            with self.subTest(path=path):
                status, headers, data = self.get(path)
                self.assertNotIn(SECRET.encode(), data)
                self.assertEqual(status, want_status, data[:300])
                self.assertEqual(headers["Content-Type"], "application/json")
                self.assertEqual(json.loads(data)["error"]["message"], message)

    def test_z_server_still_serves(self):
        status, _, data = self.get("/index.html")
        self.assertEqual((status, data), (200, b"<p>the test's viewer</p>"))


if __name__ == "__main__":
    unittest.main()
