"""Bad input on the bus: every kind is rejected, counted by reason, logged once per
source (then rate-limited), and never stops the agent."""
import math
import time
import unittest

import msgpack
import zmq

import agent_harness as H

MODEL = "llama-3-8b"


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = H.temp_dir()
        cls.cfg = H.base_config(cls.tmp.name)
        cls.agent = H.Agent(cls.cfg, cls.tmp.name).start()
        cls.ctx = zmq.Context()
        assert H.wait_until(lambda: H.up(cls.cfg)), cls.agent.log_text()

    @classmethod
    def tearDownClass(cls):
        rc = cls.agent.stop()
        log = cls.agent.log_text()
        cls.ctx.destroy(linger=0)
        cls.tmp.cleanup()
        assert rc == 0, "the agent did not exit cleanly (%s):\n%s" % (rc, log[-4000:])

    def check_rejected(self, reason, frames_fn, source, header_ok=True):
        """Sends the bad message twice from `source` (resending until the first is
        counted: PUB may drop before connecting), then a good one, and checks the
        counter, the single log line, and that good input still flows."""
        pub = H.Publisher(self.ctx, self.cfg, source=source)
        before = H.metric(self.cfg, "variant_bus_messages_rejected_total", reason=reason)
        ok = False
        end = time.time() + 10
        while time.time() < end and not ok:
            pub.send_raw(frames_fn(pub))
            ok = H.wait_until(lambda: H.metric(
                self.cfg, "variant_bus_messages_rejected_total", reason=reason) > before, 0.5)
        self.assertTrue(ok, "no rejection counted for " + reason)
        pub.send_raw(frames_fn(pub))  # a second one: counted, not logged again
        self.assertTrue(H.wait_until(lambda: H.metric(
            self.cfg, "variant_bus_messages_rejected_total", reason=reason) >= before + 2, 5))
        self.assertTrue(self.agent.alive(), self.agent.log_text())
        log = self.agent.log_text()
        # Without a readable header the sender is unknown: logged as "<no header>".
        src = source if header_ok else "<no header>"
        lines = [l for l in log.splitlines()
                 if "rejected a message from '%s'" % src in l and reason + ":" in l]
        self.assertEqual(len(lines), 1, log)
        # The agent still ingests good input from the same source.
        sub = H.Subscriber(self.ctx, self.cfg, topics=("metrics",))
        end = time.time() + 10
        while time.time() < end:
            pub.metrics(MODEL, running=3)
            m = sub.recv(0.3)
            if m and m[1]["src"] == source:
                break
        else:
            self.fail("good input after bad input was not forwarded")
        sub.sock.close()
        pub.sock.close()

    def good_header(self, pub):
        return pub.header()

    def test_truncated_msgpack(self):
        body = msgpack.packb({"model": MODEL, "variant": "h100-tp1", "running": 3.0})
        self.check_rejected("truncated", lambda p: [b"metrics", p.header(), body[:-4]], "trunc")

    def test_garbage_header(self):
        self.check_rejected("truncated", lambda p: [b"metrics", b"\xc1\xc1", b"\x80"], "garb",
                            header_ok=False)

    def test_wrong_types(self):
        body = msgpack.packb({"model": MODEL, "variant": "h100-tp1", "running": "lots"})
        self.check_rejected("wrong_type", lambda p: [b"metrics", p.header(), body], "types")

    def test_body_not_a_map(self):
        body = msgpack.packb([1, 2, 3])
        self.check_rejected("wrong_type", lambda p: [b"metrics", p.header(), body], "notmap")

    def test_unknown_schema_version(self):
        body = msgpack.packb({"model": MODEL, "running": 3.0})
        self.check_rejected("schema_version", lambda p: [b"metrics", p.header(version=2), body],
                            "future", header_ok=False)

    def test_unknown_model(self):
        body = msgpack.packb({"model": "no-such-model", "running": 3.0})
        self.check_rejected("unknown_model", lambda p: [b"metrics", p.header(), body], "who")

    def test_unknown_variant(self):
        body = msgpack.packb({"model": MODEL, "variant": "tpu-v9", "running": 3.0})
        self.check_rejected("unknown_model", lambda p: [b"metrics", p.header(), body], "whov")

    def test_unknown_class(self):
        body = msgpack.packb({"model": MODEL, "class": "vip", "running": 3.0})
        self.check_rejected("unknown_model", lambda p: [b"metrics", p.header(), body], "whoc")

    def test_oversized(self):
        body = msgpack.packb({"model": MODEL, "pad": "x" * 8192})
        self.check_rejected("oversized", lambda p: [b"metrics", p.header(), body], "big", header_ok=False)

    def test_nan(self):
        body = msgpack.packb({"model": MODEL, "arrival_rate_rps": math.nan})
        self.check_rejected("bad_value", lambda p: [b"metrics", p.header(), body], "nan")

    def test_negative(self):
        body = msgpack.packb({"model": MODEL, "running": -4.0})
        self.check_rejected("bad_value", lambda p: [b"metrics", p.header(), body], "neg")

    def test_missing_model(self):
        body = msgpack.packb({"running": 1.0})
        self.check_rejected("missing_field", lambda p: [b"metrics", p.header(), body], "nomodel")

    def test_wrong_frame_count(self):
        self.check_rejected("frames", lambda p: [b"metrics", p.header()], "twoframes",
                            header_ok=False)

    def test_unknown_topic(self):
        self.check_rejected("unknown_topic", lambda p: [b"gossip", p.header(), b"\x80"], "gossip")

    def test_inventory_wrong_type(self):
        body = msgpack.packb({"replicas": {"not": "a list"}})
        self.check_rejected("wrong_type", lambda p: [b"inventory", p.header(), body], "inv")



if __name__ == "__main__":
    unittest.main()
