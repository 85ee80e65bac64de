"""variant-collect against a plain HTTP server (Python's http.server) serving a
hand-written vLLM scrape: --once prints derived observations; --bus publishes
metrics messages that an independent decoder (python3-zmq, python3-msgpack) reads."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import HTTPServer, SimpleHTTPRequestHandler

import msgpack
import zmq

COLLECT = os.environ["VARIANT_COLLECT"]
FIXTURES = os.environ["COLLECTOR_FIXTURES"]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class VariantCollect(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="variant-collect-")
        shutil.copy(os.path.join(FIXTURES, "vllm_v1_t100.txt"), os.path.join(self.dir, "metrics"))
        handler = lambda *a, **k: Quiet(*a, directory=self.dir, **k)
        self.httpd = HTTPServer(("127.0.0.1", 0), handler)
        self.url = "http://127.0.0.1:%d/metrics" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def tearDown(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
        shutil.rmtree(self.dir)

    def test_once_prints_observations(self):
        out = subprocess.run([COLLECT, "--target", self.url + "=h100-tp1", "--once",
                              "--window", "0.2"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        obs = {o["model"]: o for o in map(json.loads, out.stdout.splitlines())}
        self.assertEqual(set(obs), {"llama-3-8b", "qwen-2.5-7b"})
        llama = obs["llama-3-8b"]
        self.assertTrue(llama["rates_valid"])
        self.assertEqual(llama["running"], 4.0)
        self.assertEqual(llama["kv_usage"], 0.25)
        self.assertEqual(llama["completion_rps"], 0.0)  # same scrape twice: nothing finished
        self.assertEqual(llama["sources"]["itl_s"], "vllm:inter_token_latency_seconds")

    def test_once_with_no_answer_fails(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd = None
        out = subprocess.run([COLLECT, "--target", self.url + "=v", "--once", "--window", "0",
                              "--timeout", "1"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn(self.url, out.stderr)

    def test_usage(self):
        out = subprocess.run([COLLECT, "--target", "no-variant", "--once"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2)

    def test_bus_publishes_metrics_messages(self):
        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        port = sub.bind_to_random_port("tcp://127.0.0.1")
        proc = subprocess.Popen([COLLECT, "--target", self.url + "=h100-tp1", "--bus",
                                 "tcp://127.0.0.1:%d" % port, "--source", "test-collector",
                                 "--interval", "0.2"], stderr=subprocess.DEVNULL)
        try:
            got = {}
            poller = zmq.Poller()
            poller.register(sub, zmq.POLLIN)
            deadline = time.monotonic() + 30
            while "llama-3-8b" not in got and time.monotonic() < deadline:
                if not poller.poll(200):
                    continue
                frames = sub.recv_multipart()
                self.assertEqual(len(frames), 3)
                header = msgpack.unpackb(frames[1], raw=False)
                body = msgpack.unpackb(frames[2], raw=False)
                if frames[0] == b"metrics":
                    self.assertIn("test-collector", json.dumps(header))
                    got[body["model"]] = body
            self.assertIn("llama-3-8b", got)
            m = got["llama-3-8b"]
            self.assertEqual(m["variant"], "h100-tp1")
            self.assertEqual(m["running"], 4.0)
            self.assertEqual(m["replicas_ready"], 1)
            # No full window on the first scrape: the rate is absent, never 0.
            if "arrival_rate_rps" in m:
                self.assertGreaterEqual(m["arrival_rate_rps"], 0.0)
        finally:
            proc.terminate()
            proc.wait(10)
            sub.close(0)
            ctx.term()


if __name__ == "__main__":
    unittest.main(verbosity=2)
