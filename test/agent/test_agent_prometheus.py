"""A real Prometheus server (Debian's `prometheus`) scrapes the agent on loopback; its
HTTP API returns the desired replicas the agent decided."""
import json
import os
import shutil
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

import zmq

import agent_harness as H

MODEL = "llama-3-8b"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def query(port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())


def start_prometheus(cfg_path, tsdb, log):
    """Prometheus on a free loopback port, once /-/ready answers. Started again on a
    new port if it exits first (its port taken between free_port and its bind under a
    parallel ctest), up to four times. (None, None) if it never came up."""
    for _ in range(4):
        port = H.free_port()
        prom = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + cfg_path, "--storage.tsdb.path=" + tsdb,
             "--web.listen-address=127.0.0.1:%d" % port],
            stdout=log, stderr=subprocess.STDOUT)
        end = time.time() + 30
        while time.time() < end and prom.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=1) as r:
                    if r.status == 200:
                        return prom, port
            except OSError:
                pass
            time.sleep(0.1)
        if prom.poll() is None:
            prom.kill()
        prom.wait()
    return None, None


@unittest.skipUnless(os.path.exists(PROMETHEUS), "Debian package prometheus not installed")
class PrometheusScrapeTest(unittest.TestCase):
    def test_prometheus_reads_desired_replicas(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d)
            agent = H.Agent(cfg, d).start()
            prom_cfg = os.path.join(d, "prometheus.yml")
            with open(prom_cfg, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        "scrape_configs:\n  - job_name: variant-agent\n"
                        "    static_configs:\n      - targets: ['%s']\n" % cfg["metrics_listen"])
            prom_log = open(os.path.join(d, "prometheus.log"), "wb")
            prom, prom_port = start_prometheus(prom_cfg, os.path.join(d, "tsdb"), prom_log)
            if prom is None:
                prom_log.close()
                agent.stop()
                self.fail("Prometheus never came up: " + open(prom_log.name).read()[-3000:])
            ctx = zmq.Context()
            try:
                sub = H.Subscriber(ctx, cfg)
                pub = H.Publisher(ctx, cfg)
                decided = None
                end = time.time() + 15
                while time.time() < end and decided is None:
                    pub.metrics(MODEL, running=40, waiting=8, replicas_ready=2)
                    m = sub.wait_for("decision", lambda b: H.replicas(b, MODEL) > 0, timeout_s=0.3)
                    if m:
                        decided = H.replicas(m[2], MODEL)
                self.assertEqual(decided, 6, agent.log_text())
                expr = 'variant_desired_replicas{model="%s",variant="h100-tp1",role="pd"}' % MODEL
                value = None
                end = time.time() + 60
                while time.time() < end:
                    try:
                        r = query(prom_port, expr)
                        res = r["data"]["result"]
                        if r["status"] == "success" and res:
                            value = float(res[0]["value"][1])
                            if value == decided:
                                break
                    except OSError:
                        pass  # prometheus still starting
                    time.sleep(0.5)
                self.assertEqual(value, decided, open(prom_log.name).read()[-3000:])
                # The other families are there too.
                for name in ("variant_cost_per_hour", "variant_solve_seconds_count",
                             "variant_bus_messages_in_total", "variant_agent_last_event_age_seconds"):
                    r = query(prom_port, name)
                    self.assertTrue(r["data"]["result"], name)
            finally:
                prom.terminate()
                try:
                    prom.wait(20)
                except subprocess.TimeoutExpired:
                    prom.kill()
                    prom.wait()
                prom_log.close()
                rc = agent.stop()
                ctx.destroy(linger=0)
            self.assertEqual(rc, 0, "the agent did not exit cleanly")


if __name__ == "__main__":
    unittest.main()
