"""Acceptance: a Go program (bridge/go, cgo) and a Python program (bridge/python,
ctypes), each using its bridge, receive guidance from a running variant-agent over the
real bus and give the same weights for the same requests.

Environment: VARIANT_AGENT (the agent binary), VARIANT_GUIDANCE_GO (the Go program),
VARIANT_LIB_DIR, VARIANT_SOURCE_DIR.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import unittest

import zmq

SRC = os.environ["VARIANT_SOURCE_DIR"]
sys.path.insert(0, os.path.join(SRC, "bridge", "python", "tests"))
import msgpack_min  # noqa: E402

MODEL = "llama-3-8b"
REQUESTS = [
    {"model": MODEL, "class": "interactive", "input": 800, "output": 150},
    {"model": MODEL, "class": "interactive", "input": 20000, "output": 10},
    {"model": MODEL, "class": "batch", "input": 3000, "output": 600},
    {"model": MODEL, "class": "", "input": 500, "output": 100},
    {"model": "no-such-model", "class": "", "input": 100, "output": 100},
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class GoAndPythonAgree(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="guidance-acceptance-")
        xsub, xpub = free_port(), free_port()
        self.xsub, self.xpub = "tcp://127.0.0.1:%d" % xsub, "tcp://127.0.0.1:%d" % xpub
        cfg = {
            "mode": "cluster", "source": "acceptance-agent",
            "bus": {"xsub": self.xsub, "xpub": self.xpub, "heartbeat_s": 0.5,
                    "stale_after_s": 60},
            "solve": {"threshold": 0.05, "debounce_ms": 5, "max_staleness_s": 600},
            "problem": {
                "schema_version": 1,
                "accelerators": [{"name": "h100", "count": 2}, {"name": "a100", "count": 3},
                                 {"name": "l40s", "count": 8}],
                "classes": [
                    {"name": "interactive", "priority": 10,
                     "slo": {"ttft_p95_ms": 1000, "itl_p95_ms": 60}},
                    {"name": "batch", "priority": 1, "slo": "ttlt_p95_ms=60000"}],
                "models": [{"name": MODEL, "variants": [
                    {"name": "h100-tp1", "accelerator": "h100", "tp": 1},
                    {"name": "a100-tp1", "accelerator": "a100", "tp": 1},
                    {"name": "l40s-tp1", "accelerator": "l40s", "tp": 1}]}]}}
        path = os.path.join(self.dir, "agent.yaml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.log = open(os.path.join(self.dir, "agent.log"), "w")
        self.agent = subprocess.Popen([os.environ["VARIANT_AGENT"], "--config", path],
                                      stdout=self.log, stderr=subprocess.STDOUT)
        with open(os.path.join(self.dir, "requests.json"), "w") as f:
            json.dump(REQUESTS, f)
        self.ctx = zmq.Context()

    def tearDown(self):
        self.agent.terminate()
        self.agent.wait(timeout=10)
        self.log.close()
        self.ctx.destroy(linger=0)

    def agent_log(self):
        with open(os.path.join(self.dir, "agent.log")) as f:
            return f.read()

    def publish_until_guidance(self):
        pub = self.ctx.socket(zmq.PUB)
        pub.connect(self.xsub)
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"guidance")
        sub.connect(self.xpub)
        demand = [("interactive", 90.0, 800.0, 150.0), ("batch", 20.0, 3000.0, 600.0)]
        seq = 0
        for _ in range(300):  # bounded: ~30 s
            for cls, rate, i, o in demand:
                seq += 1
                body = {"model": MODEL, "class": cls, "arrival_rate_rps": rate,
                        "input_mean": i, "output_mean": o}
                pub.send_multipart([b"metrics", msgpack_min.header(seq=seq, src="acceptance"),
                                    msgpack_min.packb(body)])
            if sub.poll(100):
                sub.recv_multipart()
                pub.close()
                # Settle: until no new guidance for 1 s (a decision on part of the
                # demand may be followed by one on all of it), so both programs read
                # the same, last decision.
                for _ in range(20):
                    if not sub.poll(1000):
                        break
                    sub.recv_multipart()
                sub.close()
                return True
        return False

    def test_same_weights_for_the_same_requests(self):
        self.assertTrue(self.publish_until_guidance(), "no guidance; agent log:\n" + self.agent_log())
        req = os.path.join(self.dir, "requests.json")
        env = dict(os.environ)
        go = subprocess.Popen([os.environ["VARIANT_GUIDANCE_GO"], "-endpoint", self.xpub,
                               "-requests", req, "-timeout", "30s"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        py = subprocess.Popen([sys.executable,
                               os.path.join(SRC, "bridge", "python", "variant_guidance.py"),
                               "--endpoint", self.xpub, "--requests", req, "--timeout", "30"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        go_out, go_err = go.communicate(timeout=60)
        py_out, py_err = py.communicate(timeout=60)
        self.assertEqual(go.returncode, 0, go_err.decode())
        self.assertEqual(py.returncode, 0, py_err.decode())
        g, p = json.loads(go_out), json.loads(py_out)
        self.assertEqual(g["decision_id"], p["decision_id"])
        self.assertGreaterEqual(g["decision_id"], 1)
        self.assertEqual(len(g["answers"]), len(REQUESTS))
        with_weights = 0
        for req, ga, pa in zip(REQUESTS, g["answers"], p["answers"]):
            self.assertEqual(ga["weights"], pa["weights"], req)  # exact, same order
            self.assertEqual(ga["loads"], pa["loads"], req)
            self.assertEqual("error" in ga, "error" in pa, req)
            if req["model"] == MODEL:
                self.assertNotIn("error", ga, req)
                self.assertAlmostEqual(sum(w for _, w in ga["weights"]), 1.0, places=9)
                with_weights += 1
            else:
                self.assertIn("UNKNOWN_MODEL", ga["error"])
                self.assertIn("UNKNOWN_MODEL", pa["error"])
        self.assertEqual(with_weights, 4)
        print("decision %d: Go and Python agree on %d requests" % (g["decision_id"], len(REQUESTS)))
        for req, ga in zip(REQUESTS, g["answers"]):
            print("  %s/%s %gx%g -> %s" % (req["model"], req["class"] or "*", req["input"],
                                           req["output"], ga["weights"] or ga.get("error")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
