"""The authenticated, encrypted bus (docs/bus.md, "Authentication"): ZeroMQ CURVE with
the agent's ZAP handler and an allowlist of publisher keys. Real sockets on loopback;
the keys and the peers are Debian's python3-zmq (zmq.curve_keypair, zmq.auth
certificate files)."""
import http.server
import os
import subprocess
import threading
import time
import unittest

import zmq
import zmq.auth

import agent_harness as H

MODEL, OTHER = "llama-3-8b", "mistral-7b"
COLLECT = os.environ.get("VARIANT_COLLECT", "")
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "collector",
                       "fixtures", "vllm_v1_t100.txt")


def serve_metrics():
    """A /metrics endpoint serving a recorded vLLM exposition; returns (server, url)."""
    with open(FIXTURE, "rb") as f:
        body = f.read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d/metrics" % srv.server_address[1]


def curve(sock, public, secret, server_public):
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_public


class AuthTest(unittest.TestCase):
    def setUp(self):
        self.tmp = H.temp_dir()
        self.dir = self.tmp.name
        self.ctx = zmq.Context()
        self.agent = None
        self.server_pub, self.server_sec = zmq.curve_keypair()
        self.known_pub, self.known_sec = zmq.curve_keypair()
        self.unknown_pub, self.unknown_sec = zmq.curve_keypair()
        # A second allowed publisher as a certificate file in a directory (how the
        # chart mounts a Secret), written by zmq.auth.
        self.keydir = os.path.join(self.dir, "publishers")
        os.mkdir(self.keydir)
        pub_file, _ = zmq.auth.create_certificates(self.keydir, "collector-b")
        self.file_pub, self.file_sec = zmq.auth.load_certificate(
            pub_file.replace(".key", ".key_secret"))
        os.remove(pub_file.replace(".key", ".key_secret"))  # only public keys there

    def tearDown(self):
        rc = self.agent.stop() if self.agent else 0
        log = self.agent.log_text() if self.agent else ""
        self.ctx.destroy(linger=0)
        self.tmp.cleanup()
        self.assertEqual(rc, 0, log[-3000:])

    def start(self, with_keys=True):
        cfg = H.base_config(self.dir)
        cfg["solve"]["max_staleness_s"] = 0.3
        if with_keys:
            cfg["bus"]["curve"] = {
                "secret_key": self.server_sec.decode(),
                "public_key": self.server_pub.decode(),
                "allowed_publishers": [self.known_pub.decode()],
                "allowed_publishers_dir": self.keydir,
            }
        self.agent = H.Agent(cfg, self.dir).start()
        self.assertTrue(H.wait_until(lambda: H.up(cfg) or not self.agent.alive()))
        self.assertTrue(self.agent.alive(), self.agent.log_text())
        return cfg

    def publisher(self, cfg, keys, source):
        p = H.Publisher(self.ctx, cfg, source=source)
        if keys is not None:
            p.sock.close(linger=0)
            p.sock = self.ctx.socket(zmq.PUB)
            p.sock.setsockopt(zmq.LINGER, 0)
            curve(p.sock, keys[0], keys[1], self.server_pub)
            p.sock.connect(cfg["bus"]["xsub"])
        return p

    def subscriber(self, cfg):
        s = self.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        pub, sec = zmq.curve_keypair()  # any CURVE key may read (no allowed_subscribers)
        curve(s, pub, sec, self.server_pub)
        s.connect(cfg["bus"]["xpub"])
        s.setsockopt(zmq.SUBSCRIBE, b"decision")
        sub = H.Subscriber.__new__(H.Subscriber)
        sub.sock = s
        return sub

    def wait_decision(self, sub, pred, send, timeout_s=10):
        end = time.time() + timeout_s
        while time.time() < end:
            send()
            m = sub.wait_for("decision", pred, timeout_s=0.3)
            if m is not None:
                return m[2]
        return None

    def test_known_keys_work_and_unknown_keys_never_reach_the_decision(self):
        cfg = self.start()
        sub = self.subscriber(cfg)
        good = self.publisher(cfg, (self.known_pub, self.known_sec), "collector-a")
        d = self.wait_decision(sub, lambda b: H.replicas(b, MODEL) == 6,
                               lambda: good.metrics(MODEL, running=40, waiting=8, replicas_ready=2))
        self.assertIsNotNone(d, self.agent.log_text())
        # The key from the directory works too.
        filed = self.publisher(cfg, (self.file_pub, self.file_sec), "collector-b")
        d = self.wait_decision(sub, lambda b: H.replicas(b, OTHER) == 4,
                               lambda: filed.metrics(OTHER, running=32, replicas_ready=1))
        self.assertIsNotNone(d, self.agent.log_text())
        accepted_in = H.metric(cfg, "variant_bus_messages_in_total", topic="metrics")

        # An unknown key, and a publisher without CURVE, both try to push OTHER to 100
        # replicas for a while; decisions keep coming (max_staleness_s) unchanged.
        bad = self.publisher(cfg, (self.unknown_pub, self.unknown_sec), "intruder")
        plain = self.publisher(cfg, None, "plain")
        end = time.time() + 2.0
        seen = []
        while time.time() < end:
            for p in (bad, plain):
                p.metrics(OTHER, running=800, replicas_ready=1)
            m = sub.wait_for("decision", timeout_s=0.1)
            if m:
                seen.append(H.replicas(m[2], OTHER))
        self.assertTrue(seen, "decisions stopped")
        self.assertEqual(set(seen), {4}, "an unauthenticated message changed a decision")
        self.assertGreater(H.metric(cfg, "variant_bus_auth_total", side="publisher",
                                    result="refused"), 0)
        self.assertGreaterEqual(H.metric(cfg, "variant_bus_auth_total", side="publisher",
                                         result="accepted"), 2)
        self.assertEqual(H.metric(cfg, "variant_bus_messages_in_total", topic="metrics"),
                         accepted_in, "messages from refused peers were counted as received")
        log = self.agent.log_text()
        self.assertIn("refused a publisher with CURVE key " + self.unknown_pub.decode(), log)
        self.assertIn("CURVE on", log)
        self.assertNotIn("NO AUTHENTICATION", log)

    def test_without_keys_the_agent_says_the_bus_is_open(self):
        self.start(with_keys=False)
        time.sleep(0.2)
        self.assertIn("NO AUTHENTICATION", self.agent.log_text())


    @unittest.skipUnless(COLLECT, "VARIANT_COLLECT not set")
    def test_collector_publishes_with_curve_keys(self):
        """variant-collect --curve-*: with an allowed key its metrics are accepted; with
        a key the agent does not know, none are."""
        cfg = self.start()
        srv, url = serve_metrics()
        # The collector's keys as files: its own certificate pair and the agent's key.
        sec_file = os.path.join(self.dir, "collector.key_secret")
        with open(sec_file, "w") as f:
            f.write('curve\n    public-key = "%s"\n    secret-key = "%s"\n'
                    % (self.known_pub.decode(), self.known_sec.decode()))
        server_file = os.path.join(self.dir, "server.key")
        with open(server_file, "w") as f:
            f.write(self.server_pub.decode() + "\n")

        def accepted():
            return H.metric(cfg, "variant_bus_messages_in_total", topic="metrics")

        def run(public, secret, until, then_s=0.0):
            p = subprocess.Popen(
                [COLLECT, "--target", url + "=h100-tp1", "--bus", cfg["bus"]["xsub"],
                 "--source", "curve-collector", "--interval", "0.2",
                 "--curve-secret-key", secret, "--curve-public-key", public,
                 "--curve-server-key", server_file],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            H.wait_until(until, timeout_s=15.0, step=0.1)
            time.sleep(then_s)  # the collector keeps running (and publishing) meanwhile
            p.terminate()
            _, err = p.communicate(timeout=10)
            return err.decode()

        try:
            # Refused at the handshake, and nothing gets in in the second after it.
            err = run(self.unknown_pub.decode(), self.unknown_sec.decode(),
                      lambda: H.metric(cfg, "variant_bus_auth_total", side="publisher",
                                       result="refused") >= 1, then_s=1.0)
            self.assertGreaterEqual(H.metric(cfg, "variant_bus_auth_total", side="publisher",
                                             result="refused"), 1.0, err)
            self.assertEqual(accepted(), 0.0, err)
            err = run(sec_file, sec_file, lambda: accepted() > 0)
            self.assertGreater(accepted(), 0.0, err + self.agent.log_text()[-2000:])
        finally:
            srv.shutdown()


if __name__ == "__main__":
    unittest.main()
