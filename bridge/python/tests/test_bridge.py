"""Tests of the Python bridge: libvariant (solve, model queries) and the guidance
client, through the real shared objects (VARIANT_LIB_DIR) and real ZeroMQ."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import msgpack_min  # noqa: E402

import variant_bridge as vb  # noqa: E402

SOURCE_DIR = os.environ.get("VARIANT_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def basic_problem():
    with open(os.path.join(SOURCE_DIR, "examples", "basic.yaml")) as f:
        return f.read()


class LibvariantTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ctx = vb.Context()

    @classmethod
    def tearDownClass(cls):
        cls.ctx.close()

    def test_version(self):
        self.assertEqual(vb.abi_version(), 1)
        self.assertRegex(vb.version(), r"^\d+\.\d+\.\d+$")

    def test_solve(self):
        d = self.ctx.solve(basic_problem(), solver="fast")
        self.assertGreater(d["cost_per_hour"], 0)
        self.assertTrue(d["allocation"])
        models = {m["model"] for m in d["guidance"]["models"]}
        self.assertIn("llama-3-8b", models)

    def test_solve_error_names_the_problem(self):
        bad = basic_problem().replace("llama-3-70b", "no-such-model")
        with self.assertRaises(vb.VariantError) as e:
            self.ctx.solve(bad)
        self.assertEqual(e.exception.name, "VARIANT_E_UNKNOWN_MODEL")
        self.assertIn("no-such-model", e.exception.message)

    def test_model_queries(self):
        spec = vb.Spec("llama-3-8b", "h100", tp=1)
        w = vb.Workload([(1000, 200, 1.0)])
        p = self.ctx.predict(spec, w, 1.0)
        self.assertEqual(p["stable"], 1)
        self.assertGreater(p["ttft_p95_ms"], 0)
        m = self.ctx.max_rate(spec, w, "ttft_p95_ms=1000,itl_p95_ms=60")
        self.assertGreater(m["rate_rps"], 1.0)
        self.assertLessEqual(m["ttft_p95_ms"], 1000 * 1.001)
        with self.assertRaises(vb.VariantError) as e:
            self.ctx.predict(vb.Spec("llama-3-8b", "tpu-v9"), w, 1.0)
        self.assertEqual(e.exception.name, "VARIANT_E_UNKNOWN_ACCELERATOR")


class ClientTest(unittest.TestCase):
    def guidance(self):
        with vb.Context() as ctx:
            d = ctx.solve(basic_problem(), solver="fast")
        return d, {"decision_id": 5, "models": [], "optimizer": d["guidance"]}

    def test_weights_are_the_decisions_bucket_weights(self):
        d, g = self.guidance()
        with vb.GuidanceClient() as c:
            with self.assertRaises(vb.ClientError) as e:
                c.weights("llama-3-8b", 300, 150)
            self.assertEqual(e.exception.name, "VARIANT_CLIENT_E_NO_GUIDANCE")
            c.feed(msgpack_min.header(), msgpack_min.packb(g))
            for m in d["guidance"]["models"]:
                for s in m["slices"]:
                    got, pick = c.weights(m["model"], s["input"], s["output"], s["class"])
                    self.assertTrue(pick.per_bucket)
                    self.assertEqual(pick.decision_id, 5)
                    self.assertEqual((pick.bucket_input, pick.bucket_output),
                                     (s["input"], s["output"]))
                    total = sum(s["weights"].values())
                    want = {k: v / total for k, v in s["weights"].items() if v > 0}
                    self.assertEqual(set(dict(got)), set(want))
                    for k, v in got:
                        self.assertAlmostEqual(v, want[k], places=12)
            for v in d["guidance"]["variants"]:
                self.assertAlmostEqual(c.load(v["model"], v["variant"]), v["load"], places=12)
            with self.assertRaises(vb.ClientError) as e:
                c.load("llama-3-8b", "no-such-variant")
            self.assertEqual(e.exception.name, "VARIANT_CLIENT_E_UNKNOWN_VARIANT")

    def test_rejected_messages_keep_the_previous_guidance(self):
        _, g = self.guidance()
        with vb.GuidanceClient() as c:
            c.feed(msgpack_min.header(), msgpack_min.packb(g))
            for hdr, body, reason in [
                    (msgpack_min.header(version=2), msgpack_min.packb(g), "schema_version"),
                    (msgpack_min.header(), b"\xc1garbage", "truncated"),
                    (msgpack_min.header(), msgpack_min.packb({"decision_id": "x"}), "decision_id")]:
                with self.assertRaises(vb.ClientError) as e:
                    c.feed(hdr, body)
                self.assertIn(reason, e.exception.message)
                self.assertEqual(c.last_rejection(), e.exception.message)
            s = c.stats()
            self.assertEqual((s["accepted"], s["rejected"], s["decision_id"]), (1, 3, 5))

    def test_receives_guidance_over_zeromq(self):
        import zmq
        _, g = self.guidance()
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        try:
            with vb.GuidanceClient("tcp://127.0.0.1:%d" % port) as c:
                for _ in range(500):
                    pub.send_multipart([b"guidance", msgpack_min.header(), msgpack_min.packb(g)])
                    if c.stats()["accepted"]:
                        break
                    time.sleep(0.01)
                self.assertEqual(c.stats()["decision_id"], 5)
                got, _ = c.weights("llama-3-8b", 300, 150, "interactive")
                self.assertAlmostEqual(sum(w for _, w in got), 1.0, places=12)
            with self.assertRaises(vb.ClientError) as e:
                vb.GuidanceClient("bogus://x")
            self.assertEqual(e.exception.name, "VARIANT_CLIENT_E_CONNECT")
        finally:
            pub.close()
            ctx.term()


if __name__ == "__main__":
    unittest.main()
