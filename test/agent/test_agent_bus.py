"""Integration tests of variant-agent over real ZeroMQ sockets on loopback, driven by
Python publishers and subscribers (Debian's python3-zmq and python3-msgpack)."""
import math
import os
import time
import unittest

import msgpack
import zmq

import agent_harness as H

MODEL = "llama-3-8b"


class AgentBusTest(unittest.TestCase):
    def setUp(self):
        self.tmp = H.temp_dir()
        self.dir = self.tmp.name
        self.ctx = zmq.Context()
        self.agents = []

    def tearDown(self):
        bad = []
        for a in self.agents:
            rc = a.stop()
            if rc != 0:
                bad.append((rc, a.log_text()[-4000:]))
        self.ctx.destroy(linger=0)
        self.tmp.cleanup()
        self.assertEqual(bad, [], "an agent did not exit cleanly")

    def start(self, cfg, log_level="info"):
        a = H.Agent(cfg, self.dir, log_level).start()
        self.agents.append(a)
        # Ready when the exporter answers (the sockets are bound before it starts).
        self.assertTrue(H.wait_until(lambda: H.up(cfg) or not a.alive()), "agent did not start")
        self.assertTrue(a.alive(), a.log_text())
        return a

    def publish_until(self, pub, sub, topic, pred, send, timeout_s=10):
        """Publishes with send() until a `topic` message satisfying pred arrives (PUB
        drops what it sends before the connection completes, so resend)."""
        end = time.time() + timeout_s
        while time.time() < end:
            send()
            m = sub.wait_for(topic, pred, timeout_s=0.3)
            if m is not None:
                return m
        self.fail("no %s message matched within %s s" % (topic, timeout_s))

    def test_metrics_in_decision_and_guidance_out(self):
        cfg = H.base_config(self.dir)
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        pub = H.Publisher(self.ctx, cfg)
        # HPA: (running + waiting) / ready = 48 / 2 = 24 per replica, target 8 -> 6.
        _, hdr, d = self.publish_until(
            pub, sub, "decision", lambda b: H.replicas(b, MODEL) == 6,
            lambda: pub.metrics(MODEL, running=40, waiting=8, arrival_rate_rps=5,
                                replicas_ready=2))
        self.assertEqual(hdr["v"], 1)
        self.assertEqual(hdr["src"], "test-agent")
        self.assertAlmostEqual(d["cost_per_hour"], 4.0 * sum(a["replicas"] for a in d["allocation"]))
        got = {}
        while len(got) < 2:
            m = sub.recv(5)
            self.assertIsNotNone(m, "plan and guidance did not follow the decision")
            if m[2].get("decision_id") == d["decision_id"]:
                got[m[0]] = m[2]
        self.assertIn("steps", got["plan"])
        models = {m["model"]: m for m in got["guidance"]["models"]}
        v = models[MODEL]["variants"][0]
        self.assertEqual(v["variant"], "h100-tp1")
        self.assertAlmostEqual(v["weight"], 1.0)
        self.assertAlmostEqual(v["load_signal"], 1.0)  # 48 / 6 / 8

    def test_late_joiner_gets_current_state_at_once(self):
        cfg = H.base_config(self.dir)
        cfg["solve"]["max_staleness_s"] = 600  # no periodic re-decision during the test
        cfg["bus"]["stale_after_s"] = 600
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        pub = H.Publisher(self.ctx, cfg)
        _, _, d = self.publish_until(
            pub, sub, "decision", lambda b: H.replicas(b, MODEL) == 6,
            lambda: pub.metrics(MODEL, running=40, waiting=8, replicas_ready=2))
        time.sleep(0.3)
        t0 = time.time()
        late = H.Subscriber(self.ctx, cfg, topics=("decision", "guidance"))
        got = {}
        while len(got) < 2 and time.time() - t0 < 3:
            m = late.recv(3)
            self.assertIsNotNone(m, "late joiner received nothing")
            got[m[0]] = m[2]
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual(got["decision"]["decision_id"], d["decision_id"])
        self.assertEqual(got["decision"]["allocation"], d["allocation"])
        self.assertEqual(got["guidance"]["decision_id"], d["decision_id"])

    def test_kill9_and_restart_gives_the_same_decision(self):
        cfg = H.base_config(self.dir)
        cfg["solve"]["max_staleness_s"] = 1.0  # re-decides on held data after restart
        a = self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        pub = H.Publisher(self.ctx, cfg)
        send = lambda: pub.metrics(MODEL, running=40, waiting=8, arrival_rate_rps=5, replicas_ready=2)
        _, _, d1 = self.publish_until(pub, sub, "decision", lambda b: H.replicas(b, MODEL) == 6, send)
        time.sleep(0.2)  # the state file is written right after publishing
        a.kill9()
        self.agents.remove(a)
        a.log.close()  # SIGKILL: no clean exit expected
        b = self.start(cfg)
        # Restored at once, before any new input.
        late = H.Subscriber(self.ctx, cfg, topics=("decision",))
        m = late.recv(3)
        self.assertIsNotNone(m, b.log_text())
        self.assertEqual(m[2]["allocation"], d1["allocation"])
        self.assertGreaterEqual(m[2]["decision_id"], d1["decision_id"])
        # Re-deciding on the restored data, then on the same input again, gives the
        # same decision.
        pub2 = H.Publisher(self.ctx, cfg)
        _, _, d2 = self.publish_until(
            pub2, late, "decision", lambda b: b["decision_id"] > d1["decision_id"], send)
        self.assertEqual(d2["allocation"], d1["allocation"])

    def test_stale_collector_does_not_scale_down(self):
        cfg = H.base_config(self.dir)
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        pub = H.Publisher(self.ctx, cfg, source="node-a")
        _, _, d = self.publish_until(
            pub, sub, "decision", lambda b: H.replicas(b, MODEL) == 6,
            lambda: pub.metrics(MODEL, running=40, waiting=8, arrival_rate_rps=5))
        # The collector goes silent: after stale_after_s the agent marks it stale and
        # keeps deciding (max_staleness_s) on the held data.
        m = sub.wait_for("decision", lambda b: "node-a" in b["stale_sources"], timeout_s=5)
        self.assertIsNotNone(m, "the silent source was not marked stale")
        self.assertEqual(H.replicas(m[2], MODEL), 6)
        self.assertEqual(H.metric(cfg, "variant_bus_stale_sources"), 1.0)
        for _ in range(3):  # several more re-decisions on held data
            m = sub.wait_for("decision", timeout_s=3)
            self.assertIsNotNone(m)
            self.assertEqual(H.replicas(m[2], MODEL), 6)
        # It comes back: no longer stale.
        pub.metrics(MODEL, running=40, waiting=8, arrival_rate_rps=5)
        self.assertTrue(H.wait_until(lambda: H.metric(cfg, "variant_bus_stale_sources") == 0.0, 5))

    def test_sequence_gap_is_counted(self):
        cfg = H.base_config(self.dir)
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg, topics=("metrics",))
        pub = H.Publisher(self.ctx, cfg, source="gappy")
        self.publish_until(pub, sub, "metrics", lambda b: True,
                           lambda: pub.metrics(MODEL, running=1))
        pub.seq += 3  # three messages "lost"
        pub.metrics(MODEL, running=1)
        self.assertTrue(H.wait_until(
            lambda: H.metric(cfg, "variant_bus_sequence_gap_messages_total") >= 3, 5))

    def test_node_mode_publishes_to_the_cluster_agent(self):
        cfg = H.base_config(self.dir)
        self.start(cfg)
        sub = H.Subscriber(self.ctx, cfg)
        node_dir = os.path.join(self.dir, "node")
        os.mkdir(node_dir)
        node_cfg = {"mode": "node", "source": "node-7",
                    "node": {"cluster": cfg["bus"]["xsub"], "interval_s": 0.1,
                             "collector": "static",
                             "static": [{"model": MODEL, "variant": "h100-tp1", "running": 16,
                                         "waiting": 0, "replicas_ready": 1}]}}
        node = H.Agent(node_cfg, node_dir).start()
        self.agents.append(node)
        m = sub.wait_for("decision", lambda b: H.replicas(b, MODEL) == 2, timeout_s=10)
        self.assertIsNotNone(m, node.log_text())


class OptimizerPathTest(unittest.TestCase):
    """Models on the default policy are decided by libvariant's variant_solve: the
    agent assembles the problem (docs/problem.md) from its config and the live demand,
    and publishes what the library decided."""

    def run_agent(self, cfg, d, body):
        a = H.Agent(cfg, d).start()
        ctx = zmq.Context()
        try:
            self.assertTrue(H.wait_until(lambda: H.up(cfg) or not a.alive()))
            self.assertTrue(a.alive(), a.log_text())
            body(a, ctx)
        finally:
            ctx.destroy(linger=0)
            rc = a.stop()
        self.assertEqual(rc, 0, "the agent did not exit cleanly")

    def test_optimizer_decides_from_live_demand(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d)
            del cfg["policies"]

            def body(a, ctx):
                sub = H.Subscriber(ctx, cfg)
                pub = H.Publisher(ctx, cfg)
                # 12 rps on a variant measured at 5 rps per replica -> 3 replicas.
                end = time.time() + 15
                m = None
                while time.time() < end and m is None:
                    pub.metrics(MODEL, arrival_rate_rps=12.0, input_mean=512, output_mean=128)
                    m = sub.wait_for("decision", lambda b: H.replicas(b, MODEL) > 0, 0.3)
                self.assertIsNotNone(m, a.log_text())
                dec = m[2]
                self.assertEqual(dec["optimizer"]["status"], "ok", dec)
                self.assertEqual(H.replicas(dec, MODEL), 3, dec)
                entry = [x for x in dec["allocation"] if x["model"] == MODEL][0]
                self.assertEqual(entry["policy"], "optimizer")
                g = sub.wait_for("guidance", lambda b: b["decision_id"] == dec["decision_id"])
                self.assertIsNotNone(g)
                self.assertIn("optimizer", g[2])
                self.assertTrue(H.wait_until(lambda: H.metric(
                    cfg, "variant_desired_replicas", model=MODEL, variant="h100-tp1",
                    role="pd") == 3.0, 5))
            self.run_agent(cfg, d, body)

    def test_solver_error_keeps_the_last_decision(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d)
            del cfg["policies"]
            cfg["problem"]["schema_version"] = 99  # the library refuses every solve

            def body(a, ctx):
                pub = H.Publisher(ctx, cfg)
                end = time.time() + 10
                errors = 0
                while time.time() < end and errors == 0:
                    pub.metrics(MODEL, arrival_rate_rps=3.0)
                    time.sleep(0.2)
                    errors = H.metric(cfg, "variant_solver_errors_total",
                                      code="VARIANT_E_SCHEMA_VERSION")
                self.assertGreater(errors, 0, a.log_text())
                self.assertEqual(H.metric(cfg, "variant_solver_failing"), 1.0)
                self.assertTrue(a.alive())
                self.assertIn("solve failed, keeping the last decision", a.log_text())
            self.run_agent(cfg, d, body)



if __name__ == "__main__":
    H.AGENT = os.environ.get("VARIANT_AGENT") or H.AGENT
    unittest.main()
