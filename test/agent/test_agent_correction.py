"""The agent's online correction (docs/model.md): variant-level TTFT/ITL means that
arrive on the bus go to libvariant's variant_model_observe before the next solve, so
a variant that is slower than the model predicts gets more replicas. Real agent, real
libvariant, real ZeroMQ on loopback; the collector is a Python publisher."""
import os
import time
import unittest

import zmq

import agent_harness as H

MODEL = "llama-3-8b"


class AgentCorrectionTest(unittest.TestCase):
    def test_slow_variant_gets_more_replicas(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d, models=(MODEL,))
            del cfg["policies"]
            # Capacity from the performance model (no capacity_rps): llama-3-8b on one
            # H100, max batch 64, SLO TTFT p95 2 s, ITL p95 80 ms.
            cfg["problem"]["models"][0]["variants"] = [
                {"name": "h100-tp1", "accelerator": "h100", "tp": 1, "max_batch": 64}]
            a = H.Agent(cfg, d).start()
            ctx = zmq.Context()
            try:
                self.assertTrue(H.wait_until(lambda: H.up(cfg) or not a.alive()))
                self.assertTrue(a.alive(), a.log_text())
                sub = H.Subscriber(ctx, cfg, topics=("decision",))
                pub = H.Publisher(ctx, cfg)
                load = dict(arrival_rate_rps=40.0, input_mean=1000, output_mean=200)
                # 1. Demand without latencies: the a-priori model sizes it.
                before = None
                end = time.time() + 15
                while time.time() < end and before is None:
                    pub.metrics(MODEL, replicas_ready=3, **load)
                    before = sub.wait_for("decision", lambda b: H.replicas(b, MODEL) > 0, 0.3)
                self.assertIsNotNone(before, a.log_text())
                n0 = H.replicas(before[2], MODEL)
                self.assertGreater(n0, 0)
                # 2. The same demand, and the servers report TTFT and ITL well above
                # what the model predicts at that load (a slower variant than modelled):
                # the correction must shrink its capacity, so more replicas.
                after = None
                end = time.time() + 20
                k = 0
                while time.time() < end and after is None:
                    k += 1
                    # The rate moves a little each time so that each message triggers
                    # a solve (threshold 5 %), each one feeding an observation.
                    rate = 40.0 * (1.1 if k % 2 else 1.0)
                    # Four ready replicas (10 rps each: a load the model calls stable;
                    # an observation at a rate it calls unstable is not used).
                    pub.metrics(MODEL, replicas_ready=4, ttft_mean_ms=400.0, itl_mean_ms=45.0,
                                **dict(load, arrival_rate_rps=rate))
                    after = sub.wait_for(
                        "decision", lambda b: H.replicas(b, MODEL) >= 2 * n0, 0.3)
                self.assertIsNotNone(
                    after, "replicas did not grow past %d after slow latencies; log:\n%s"
                    % (n0, a.log_text()[-3000:]))
                self.assertEqual(after[2]["optimizer"]["status"], "ok", after[2])
            finally:
                ctx.destroy(linger=0)
                rc = a.stop()
            self.assertEqual(rc, 0, "the agent did not exit cleanly")


if __name__ == "__main__":
    H.AGENT = os.environ.get("VARIANT_AGENT") or H.AGENT
    unittest.main()
