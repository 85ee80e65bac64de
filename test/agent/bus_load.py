#!/usr/bin/env python3
"""Load for the agent's bus, over real ZeroMQ (Debian's python3-zmq / python3-msgpack):

  flood  ENDPOINT --source S --model M --seconds T
         publishes valid metrics as fast as one core allows (a misbehaving collector);
         prints {"sent": n, "seconds": t} as JSON at the end.
  soak   --xsub E --xpub E --metrics HOST:PORT --pid PID --models N --day-s D --rate R
         --out DIR
         a simulated day of diurnal demand for N models compressed into D seconds at R
         messages/s (several "collectors"), while it records, every second, messages
         sent, decisions received, the agent's rejected/solver-error counters and its
         VmRSS; writes DIR/soak.csv, DIR/soak.json (summary) and DIR/soak.svg (plot,
         standard library only).

Used by test_agent_flood.py (seconds) and scripts/flood.sh / scripts/soak.sh (minutes)."""
import argparse
import json
import math
import os
import random
import sys
import time
import urllib.request

import msgpack
import zmq


def header(src, seq):
    return msgpack.packb({"v": 1, "src": src, "seq": seq, "ts": time.time()})


def flood(a):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDHWM, 100000)
    if a.curve_server:
        pub, sec = zmq.curve_keypair()
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, a.curve_server.encode()
    s.connect(a.endpoint)
    time.sleep(0.2)
    body = msgpack.packb({"model": a.model, "variant": a.variant, "running": 1000.0,
                          "replicas_ready": 1})
    topic = b"metrics"
    seq = 0
    t0 = time.time()
    end = t0 + a.seconds
    while time.time() < end:
        for _ in range(1000):
            seq += 1
            s.send_multipart([topic, header(a.source, seq), body])
    print(json.dumps({"sent": seq, "seconds": time.time() - t0}))
    sys.stdout.flush()
    ctx.destroy(linger=0)


def scrape(listen):
    out = {}
    with urllib.request.urlopen("http://%s/metrics" % listen, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            base = name.split("{", 1)[0]
            out[base] = out.get(base, 0.0) + float(value)
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def soak(a):
    ctx = zmq.Context()
    collectors = []
    for c in range(a.collectors):
        s = ctx.socket(zmq.PUB)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(a.xsub)
        collectors.append(["soak-collector-%d" % c, s, 0])
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(a.xpub)
    sub.setsockopt(zmq.SUBSCRIBE, b"decision")
    time.sleep(0.5)
    rnd = random.Random(7)
    base = [rnd.uniform(1, 40) for _ in range(a.models)]
    phase = [rnd.uniform(0, 2 * math.pi) for _ in range(a.models)]
    rows = []
    sent = decisions = 0
    t0 = time.time()
    next_sample = t0
    batch = max(1, int(a.rate / 100))  # send in 10 ms slices
    i = 0
    while True:
        now = time.time()
        el = now - t0
        if el >= a.day_s:
            break
        day_frac = el / a.day_s  # simulated time of day, 0..1
        for _ in range(batch):
            m = i % a.models
            src = collectors[m % len(collectors)]
            diurnal = 0.55 + 0.45 * math.sin(2 * math.pi * day_frac + phase[m])
            rate = base[m] * diurnal * rnd.uniform(0.95, 1.05)
            src[2] += 1
            src[1].send_multipart([b"metrics", header(src[0], src[2]), msgpack.packb(
                {"model": "soak-model-%d" % m, "arrival_rate_rps": rate,
                 "running": rate * 2.0, "input_mean": 512.0, "output_mean": 128.0})])
            sent += 1
            i += 1
        while sub.poll(0):
            sub.recv_multipart()
            decisions += 1
        if now >= next_sample:
            try:
                m = scrape(a.metrics)
            except OSError:
                m = {}
            rows.append({"t_s": round(el, 2), "sim_hour": round(24 * day_frac, 3), "sent": sent,
                         "decisions": decisions,
                         "in": m.get("variant_bus_messages_in_total", -1),
                         "rejected": m.get("variant_bus_messages_rejected_total", 0),
                         "solver_errors": m.get("variant_solver_errors_total", 0),
                         "rss_kb": rss_kb(a.pid)})
            next_sample += 1.0
        # pace to the target rate
        target = t0 + sent / a.rate
        if target > time.time():
            time.sleep(target - time.time())
    time.sleep(1.0)
    while sub.poll(200):
        sub.recv_multipart()
        decisions += 1
    m = scrape(a.metrics)
    rows.append({"t_s": round(time.time() - t0, 2), "sim_hour": 24.0, "sent": sent,
                 "decisions": decisions, "in": m.get("variant_bus_messages_in_total", -1),
                 "rejected": m.get("variant_bus_messages_rejected_total", 0),
                 "solver_errors": m.get("variant_solver_errors_total", 0),
                 "rss_kb": rss_kb(a.pid)})
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "soak.csv"), "w") as f:
        keys = list(rows[0].keys())
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(str(r[k]) for k in keys) + "\n")
    rss = [r["rss_kb"] for r in rows if r["rss_kb"] > 0]
    summary = {"seconds": rows[-1]["t_s"], "models": a.models, "target_rate": a.rate,
               "sent": sent, "received_by_agent": rows[-1]["in"],
               "decisions": decisions, "rejected": rows[-1]["rejected"],
               "solver_errors": rows[-1]["solver_errors"],
               "rss_kb_first": rss[0] if rss else -1, "rss_kb_last": rss[-1] if rss else -1,
               "rss_kb_max": max(rss) if rss else -1,
               "rss_kb_min_after_warmup": min(rss[len(rss) // 10:]) if rss else -1}
    with open(os.path.join(a.out, "soak.json"), "w") as f:
        json.dump(summary, f, indent=2)
    write_svg(rows, os.path.join(a.out, "soak.svg"))
    print(json.dumps(summary, indent=2))
    ctx.destroy(linger=0)


def write_svg(rows, path):
    """Three stacked panels over wall time: RSS (MB), messages/s into the agent,
    decisions/s."""
    W, H, pad = 720, 150, 40
    t = [r["t_s"] for r in rows]
    def rate(key):
        out = [0.0]
        for a, b in zip(rows, rows[1:]):
            dt = max(b["t_s"] - a["t_s"], 1e-6)
            out.append(max(0.0, (b[key] - a[key]) / dt))
        return out
    panels = [("agent RSS (MB)", [r["rss_kb"] / 1024 for r in rows]),
              ("messages/s into the agent", rate("in")),
              ("decisions/s", rate("decisions"))]
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif" font-size="11">' % (W, len(panels) * (H + 20) + 20)]
    tmax = max(t[-1], 1e-6)
    for k, (label, ys) in enumerate(panels):
        y0 = 20 + k * (H + 20)
        ymax = max(max(ys), 1e-6) * 1.1
        pts = " ".join("%.1f,%.1f" % (pad + (W - 2 * pad) * x / tmax,
                                      y0 + H - (H - 20) * y / ymax) for x, y in zip(t, ys))
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>'
                     % (pad, y0, W - 2 * pad, H))
        parts.append('<text x="%d" y="%d">%s (max %.3g)</text>' % (pad + 4, y0 + 14, label, max(ys)))
        parts.append('<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="%s"/>' % pts)
    parts.append('<text x="%d" y="%d">wall time 0 .. %.0f s (one simulated day)</text>'
                 % (pad, len(panels) * (H + 20) + 12, tmax))
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="cmd", required=True)
    f = sp.add_parser("flood")
    f.add_argument("endpoint")
    f.add_argument("--source", default="flooder")
    f.add_argument("--model", default="llama-3-8b")
    f.add_argument("--variant", default="h100-tp1")
    f.add_argument("--seconds", type=float, default=3)
    f.add_argument("--curve-server", default="")
    s = sp.add_parser("soak")
    s.add_argument("--xsub", required=True)
    s.add_argument("--xpub", required=True)
    s.add_argument("--metrics", required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--models", type=int, default=100)
    s.add_argument("--collectors", type=int, default=10)
    s.add_argument("--day-s", type=float, default=120)
    s.add_argument("--rate", type=float, default=5000)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    flood(a) if a.cmd == "flood" else soak(a)


if __name__ == "__main__":
    main()
