"""Faults and what the system does (docs/faults.md), one test each, over real sockets
on loopback with real libvariant and real plugins:
  - a collector process killed -9: its data held, no scale-down, alert metric;
  - the agent killed -9 and restarted: plugin memory and plans come back;
  - libvariant returning an error after a good decision: last decision held, error
    exported, recovery when the cause goes;
  - inventory smaller than the configured accelerator count: the optimizer is held
    to what exists.
(A plugin crashing at load: test_agent_config.py.)"""
import os
import signal
import subprocess
import sys
import time
import unittest

import msgpack
import zmq

import agent_harness as H

MODEL, OTHER = "llama-3-8b", "mistral-7b"

COLLECTOR = r"""
import sys, time, msgpack, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.PUB); s.connect(sys.argv[1])
seq = 0
while True:
    seq += 1
    s.send_multipart([b"metrics", msgpack.packb({"v": 1, "src": "collector-proc", "seq": seq,
                      "ts": time.time()}), msgpack.packb({"model": sys.argv[2],
                      "variant": "h100-tp1", "running": 40.0, "waiting": 8.0,
                      "replicas_ready": 2})])
    time.sleep(0.05)
"""


class FaultsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = H.temp_dir()
        self.dir = self.tmp.name
        self.ctx = zmq.Context()
        self.agents = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        bad = []
        for a in self.agents:
            rc = a.stop()
            if rc != 0:
                bad.append((rc, a.log_text()[-3000:]))
        self.ctx.destroy(linger=0)
        self.tmp.cleanup()
        self.assertEqual(bad, [])

    def start(self, cfg):
        a = H.Agent(cfg, self.dir).start()
        self.agents.append(a)
        self.assertTrue(H.wait_until(lambda: H.up(cfg) or not a.alive()), a.log_text())
        self.assertTrue(a.alive(), a.log_text())
        return a

    def until(self, sub, pred, send=None, topic="decision", timeout_s=15):
        end = time.time() + timeout_s
        while time.time() < end:
            if send:
                send()
            m = sub.wait_for(topic, pred, timeout_s=0.3)
            if m is not None:
                return m[2]
        self.fail("no %s matched in %s s" % (topic, timeout_s))

    def test_collector_killed_data_held_no_scale_down_alert_metric(self):
        cfg = H.base_config(self.dir, params={"target": 8, "scale_down_window_s": 0})
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        coll = subprocess.Popen([sys.executable, "-c", COLLECTOR, cfg["bus"]["xsub"], MODEL])
        self.procs.append(coll)
        self.until(sub, lambda b: H.replicas(b, MODEL) == 6)
        coll.send_signal(signal.SIGKILL)
        coll.wait()
        d = self.until(sub, lambda b: "collector-proc" in b["stale_sources"], timeout_s=5)
        self.assertEqual(H.replicas(d, MODEL), 6)  # held, even with no scale-down window
        self.assertEqual(H.metric(cfg, "variant_bus_source_stale", source="collector-proc"), 1.0)
        self.assertEqual(H.metric(cfg, "variant_bus_stale_sources"), 1.0)
        for _ in range(3):
            m = sub.wait_for("decision", timeout_s=3)
            self.assertIsNotNone(m)
            self.assertEqual(H.replicas(m[2], MODEL), 6)
        # It restarts: the alert clears.
        coll2 = subprocess.Popen([sys.executable, "-c", COLLECTOR, cfg["bus"]["xsub"], MODEL])
        self.procs.append(coll2)
        self.assertTrue(H.wait_until(lambda: H.metric(
            cfg, "variant_bus_source_stale", source="collector-proc") == 0.0, 10))

    def test_agent_kill9_restores_plugin_memory_and_plans(self):
        cfg = H.base_config(self.dir)
        a = self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        pub = H.Publisher(self.ctx, cfg)
        inv = lambda: pub.send("inventory", {"accelerators": {"h100": 64}, "replicas": [
            {"model": MODEL, "variant": "h100-tp1", "ready": 2, "starting": 0}]})
        send = lambda: (inv(), pub.metrics(MODEL, running=40, waiting=8, replicas_ready=2))
        d = self.until(sub, lambda b: H.replicas(b, MODEL) == 6, send)
        plan = self.until(sub, lambda b: b["decision_id"] >= d["decision_id"], topic="plan")
        steps = [s for s in plan["steps"] if s["model"] == MODEL]
        self.assertEqual(steps, [{"step": 1, "action": "add", "model": MODEL,
                                  "variant": "h100-tp1", "replicas": 4, "safe": True,
                                  "policy": "hpa"}], plan)
        time.sleep(0.3)  # state written within 50 ms of a decision
        with open(cfg["state_file"], "rb") as f:
            st = msgpack.unpackb(f.read(), raw=False, strict_map_key=False)
        self.assertTrue(st["plugin_memory"][MODEL].startswith(b"hpa/1 "), st["plugin_memory"])
        a.kill9()
        self.agents.remove(a)
        a.log.close()
        b = self.start(cfg)
        late = H.Subscriber(self.ctx, cfg, topics=("decision", "plan"))
        got = {}
        while len(got) < 2:
            m = late.recv(3)
            self.assertIsNotNone(m, b.log_text())
            got[m[0]] = m[2]
        self.assertEqual(got["decision"]["allocation"], d["allocation"])
        self.assertEqual([s for s in got["plan"]["steps"] if s["model"] == MODEL], steps)
        self.assertIn("restored the memory of 2 plugin policies", b.log_text())

    def optimizer_config(self):
        cfg = H.base_config(self.dir)
        del cfg["policies"]
        for m in cfg["problem"]["models"]:
            m["variants"][0]["min_replicas"] = 1
        return cfg

    def test_libvariant_error_holds_the_last_decision_and_exports_it(self):
        cfg = self.optimizer_config()
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        pub = H.Publisher(self.ctx, cfg)
        inv = lambda n: pub.send("inventory", {"accelerators": {"h100": n}, "replicas": []})
        good = self.until(sub, lambda b: H.replicas(b, MODEL) == 3 and b["optimizer"]["status"] == "ok",
                          lambda: (inv(64), pub.metrics(MODEL, arrival_rate_rps=12.0)))
        # No accelerator left: the minimum replicas cannot fit -> variant_solve fails.
        bad = self.until(sub, lambda b: b["optimizer"] and b["optimizer"]["status"] != "ok",
                         lambda: inv(0))
        self.assertEqual(bad["optimizer"]["status"], "VARIANT_E_INFEASIBLE", bad)
        self.assertEqual(bad["allocation"], good["allocation"])  # held
        self.assertEqual(H.metric(cfg, "variant_solver_failing"), 1.0)
        self.assertGreater(H.metric(cfg, "variant_solver_errors_total",
                                    code="VARIANT_E_INFEASIBLE"), 0)
        self.assertEqual(H.metric(cfg, "variant_desired_replicas", model=MODEL,
                                  variant="h100-tp1", role="pd"), 3.0)
        # The cause goes: it recovers.
        self.until(sub, lambda b: b["optimizer"]["status"] == "ok", lambda: inv(64))
        self.assertTrue(H.wait_until(lambda: H.metric(cfg, "variant_solver_failing") == 0.0, 5))

    def test_inventory_count_below_the_configured_one_caps_the_optimizer(self):
        cfg = self.optimizer_config()  # configured: 64 h100
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        pub = H.Publisher(self.ctx, cfg)
        inv = lambda n: pub.send("inventory", {"accelerators": {"h100": n}, "replicas": []})
        # 12 rps at 5 rps per replica wants 3; mistral's minimum takes one of the 3.
        d = self.until(sub, lambda b: b["optimizer"] and b["optimizer"]["status"] == "ok"
                       and H.replicas(b, MODEL) == 2,
                       lambda: (inv(3), pub.metrics(MODEL, arrival_rate_rps=12.0)))
        self.assertEqual(H.replicas(d, OTHER), 1)
        self.assertTrue(any(u["model"] == MODEL and u["rate_rps"] > 0 for u in d["unserved"]), d)
        # More hardware than configured does not raise the operator's cap of 64.
        d = self.until(sub, lambda b: H.replicas(b, MODEL) == 3,
                       lambda: (inv(1000), pub.metrics(MODEL, arrival_rate_rps=12.0)))
        self.assertEqual(d["unserved"], [])



if __name__ == "__main__":
    unittest.main()
