"""Helpers for the agent's integration tests: start variant-agent on free loopback
ports with a generated config, publish and subscribe with Debian's python3-zmq and
python3-msgpack (nothing from this repository on the Python side)."""
import os
import signal
import socket
import subprocess
import tempfile
import time

import msgpack
import yaml
import zmq

AGENT = os.environ.get("VARIANT_AGENT", "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_config(tmpdir, policy="hpa", params=None, models=("llama-3-8b", "mistral-7b")):
    """A two-model config decided by a plugin policy (the optimizer is exercised
    separately: its solve may not exist in this libvariant yet)."""
    params = params if params is not None else {"target": 8, "metric": "running_waiting"}
    return {
        "mode": "cluster",
        "source": "test-agent",
        "bus": {
            "xsub": "tcp://127.0.0.1:%d" % free_port(),
            "xpub": "tcp://127.0.0.1:%d" % free_port(),
            "heartbeat_s": 0.5,
            "stale_after_s": 1.0,
            "max_message_bytes": 4096,
        },
        "metrics_listen": "127.0.0.1:%d" % free_port(),
        "state_file": os.path.join(tmpdir, "state.msgpack"),
        "solve": {"threshold": 0.05, "debounce_ms": 5, "max_staleness_s": 0.5},
        "problem": {  # docs/problem.md; the agent fills `demand`
            "schema_version": 1,
            "accelerators": [{"name": "h100", "cost_per_hour": 4.0, "count": 64}],
            "classes": [{"name": "chat", "slo": {"ttft_p95_ms": 2000, "itl_p95_ms": 80}}],
            "models": [
                {"name": m, "variants": [
                    {"name": "h100-tp1", "accelerator": "h100", "tp": 1, "max_batch": 64,
                     "capacity_rps": 5.0}]}
                for m in models],
            "options": {"stability": False},
        },
        "policies": {m: {"policy": policy, "params": params} for m in models},
    }


class Agent:
    def __init__(self, cfg, tmpdir, log_level="info"):
        self.cfg = cfg
        self.path = os.path.join(tmpdir, "agent.yaml")
        with open(self.path, "w") as f:
            yaml.safe_dump(cfg, f)
        self.log = open(os.path.join(tmpdir, "agent.log"), "ab")
        self.proc = None
        self.log_level = log_level

    def start(self):
        self.proc = subprocess.Popen([AGENT, "--config", self.path, "--log-level", self.log_level],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        """Stops with SIGTERM; returns the exit code (0 = clean, including no
        sanitizer report at exit)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode if self.proc else 0

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")


class Publisher:
    def __init__(self, ctx, agent_cfg, source="collector-1"):
        self.sock = ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(agent_cfg["bus"]["xsub"])
        self.source = source
        self.seq = 0

    def header(self, version=1):
        self.seq += 1
        return msgpack.packb({"v": version, "src": self.source, "seq": self.seq,
                              "ts": time.time()})

    def send_raw(self, frames):
        self.sock.send_multipart(frames)

    def send(self, topic, body, version=1):
        self.send_raw([topic.encode(), self.header(version), msgpack.packb(body)])

    def metrics(self, model, variant="h100-tp1", **fields):
        body = {"model": model, "variant": variant}
        body.update(fields)
        self.send("metrics", body)


class Subscriber:
    def __init__(self, ctx, agent_cfg, topics=("decision", "guidance", "plan")):
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(agent_cfg["bus"]["xpub"])
        for t in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, t.encode())

    def recv(self, timeout_s=5.0):
        """Next (topic, header, body) or None on timeout."""
        if not self.sock.poll(int(timeout_s * 1000)):
            return None
        t, h, b = self.sock.recv_multipart()
        return t.decode(), msgpack.unpackb(h), msgpack.unpackb(b)

    def wait_for(self, topic, pred=lambda body: True, timeout_s=10.0):
        end = time.time() + timeout_s
        while time.time() < end:
            m = self.recv(max(0.01, end - time.time()))
            if m is None:
                return None
            if m[0] == topic and pred(m[2]):
                return m
        return None


def scrape(agent_cfg):
    """The agent's /metrics as {(name, frozenset(labels)): value}."""
    import urllib.request
    url = "http://%s/metrics" % agent_cfg["metrics_listen"]
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            labels = frozenset(tuple(kv.split("=", 1)) for kv in rest.rstrip("}").split(",") if kv)
            labels = frozenset((k, v.strip('"')) for k, v in labels)
        else:
            name, labels = name_labels, frozenset()
        out[(name, labels)] = float(value)
    return out


def metric(agent_cfg, name, **labels):
    m = scrape(agent_cfg)
    return m.get((name, frozenset(labels.items())), 0.0)


def replicas(decision, model, variant="h100-tp1"):
    for a in decision["allocation"]:
        if a["model"] == model and a["variant"] == variant:
            return a["replicas"]
    return 0


def wait_until(pred, timeout_s=10.0, step=0.05):
    end = time.time() + timeout_s
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def temp_dir():
    return tempfile.TemporaryDirectory(prefix="variant-agent-test-")


def up(agent_cfg):
    """True once the agent's exporter answers (it starts after the bus is bound)."""
    try:
        scrape(agent_cfg)
        return True
    except OSError:
        return False
