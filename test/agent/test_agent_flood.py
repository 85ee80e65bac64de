"""Bounded under a flood (issue 7): one source publishes valid metrics as fast as a
core allows while a well-behaved one publishes steadily. The agent drops the
flooder's excess (rate_limited, counted), loses none of the well-behaved source's
messages, keeps its RSS flat and keeps deciding. Real sockets on loopback; the
flooder is a separate process (bus_load.py)."""
import json
import os
import subprocess
import sys
import time
import unittest

import zmq

import agent_harness as H

MODEL, OTHER = "llama-3-8b", "mistral-7b"
HERE = os.path.dirname(os.path.abspath(__file__))
# scripts/flood.sh sets this to 600 (10 minutes); the CI test floods for 4 s.
FLOOD_S = float(os.environ.get("VARIANT_FLOOD_S", "4"))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class FloodTest(unittest.TestCase):
    def test_flood_does_not_starve_a_well_behaved_source(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d, params={"target": 8, "scale_down_window_s": 0})
            cfg["bus"].update({"rate_limit_per_source": 2000, "rate_burst": 2000})
            cfg["solve"]["max_staleness_s"] = 0.5
            a = H.Agent(cfg, d).start()
            ctx = zmq.Context()
            try:
                self.assertTrue(H.wait_until(lambda: H.up(cfg) or not a.alive()), a.log_text())
                sub = H.Subscriber(ctx, cfg, topics=("decision", "metrics"))
                good = H.Publisher(ctx, cfg, source="good")
                # Connected: the first good message comes back through the proxy.
                end = time.time() + 10
                while time.time() < end:
                    good.metrics(MODEL, running=40, replicas_ready=5)
                    if sub.wait_for("metrics", lambda b: True, 0.2):
                        break
                while sub.recv(0.2):
                    pass
                rss0 = rss_kb(a.proc.pid)
                in0 = H.metric(cfg, "variant_bus_messages_in_total", topic="metrics")
                t_flood = time.time()
                flood = subprocess.Popen(
                    [sys.executable, os.path.join(HERE, "bus_load.py"), "flood",
                     cfg["bus"]["xsub"], "--model", OTHER, "--seconds", str(FLOOD_S)],
                    stdout=subprocess.PIPE)
                sent_good, got_good, decisions, rss_max = 0, 0, [], rss0
                t_end = time.time() + FLOOD_S + 0.5
                rss_samples = []
                k = 0
                while time.time() < t_end:
                    k += 1
                    # alternate demand every 50 messages: 8 or 16 replicas
                    good.metrics(MODEL, running=40.0 + (k // 50 % 2) * 40.0,
                                 replicas_ready=5)
                    sent_good += 1
                    deadline = time.time() + 0.01
                    while time.time() < deadline:
                        m = sub.recv(max(0.0, deadline - time.time()))
                        if m is None:
                            break
                        if m[0] == "metrics" and m[1]["src"] == "good":
                            got_good += 1
                        elif m[0] == "decision":
                            decisions.append(H.replicas(m[2], MODEL))
                    rss_max = max(rss_max, rss_kb(a.proc.pid))
                    if k % 100 == 0:
                        rss_samples.append(rss_kb(a.proc.pid))
                out = json.loads(flood.communicate(timeout=30)[0])
                while True:  # what is still in flight
                    m = sub.recv(0.5)
                    if m is None:
                        break
                    if m[0] == "metrics" and m[1]["src"] == "good":
                        got_good += 1
                limited = H.metric(cfg, "variant_bus_messages_rejected_total",
                                   reason="rate_limited")
                accepted = H.metric(cfg, "variant_bus_messages_in_total", topic="metrics") - in0
                flood_window = time.time() - t_flood
                print("flood: flooder sent %d in %.1f s; rate-limited %d; good sent %d got %d; "
                      "decisions %d; RSS %d -> max %d kB" % (
                          out["sent"], out["seconds"], limited, sent_good, got_good,
                          len(decisions), rss0, rss_max))
                if FLOOD_S > 10:
                    print("flood: RSS samples (kB, every ~1 s): first %s, last %s, max %d" % (
                        rss_samples[:5], rss_samples[-5:], max(rss_samples)))
                self.assertGreater(out["sent"], 20000, "the flooder did not flood")
                # The token bucket holds: what the flooder got through is at most its
                # rate over the window plus one burst. (What the proxy drops at its
                # high-water mark before the agent reads it is not counted anywhere, so
                # "limited" alone is not a fraction of "sent", least of all under ASan.)
                flooder_accepted = accepted - got_good
                print("flood: accepted from the flooder %d in a %.1f s window" % (
                    flooder_accepted, flood_window))
                self.assertGreater(limited, 0, "the rate limit never engaged")
                self.assertLessEqual(flooder_accepted, 2000 * flood_window + 2000)
                self.assertEqual(got_good, sent_good, "a well-behaved message was lost")
                self.assertGreaterEqual(len(decisions), 4, "decisions stopped under the flood")
                self.assertTrue({5, 10} <= set(decisions), decisions)  # it followed the good source
                with open("/proc/%d/maps" % a.proc.pid) as f:
                    sanitized = "libasan" in f.read()  # ASan's quarantine holds freed memory
                if not sanitized:
                    # Flat: back near where it started once the queues drain; a bounded
                    # transient while they are full (10-minute run: 9.6 -> max 47 -> 10.9 MB).
                    rss_end = rss_kb(a.proc.pid)
                    self.assertLess(rss_end - rss0, 16 * 1024, "RSS grew under the flood")
                    self.assertLess(rss_max - rss0, 64 * 1024, "RSS grew under the flood")
                self.assertTrue(a.alive())
            finally:
                ctx.destroy(linger=0)
                rc = a.stop()
            self.assertEqual(rc, 0, a.log_text()[-3000:])



if __name__ == "__main__":
    unittest.main()
