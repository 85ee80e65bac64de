#!/usr/bin/env python3
"""Builds the "diurnal day compressed into one hour" traces from the Azure LLM inference
traces 2023 (data/traces/azure-2023, CC-BY 4.0, Microsoft Azure; see its LICENSE).

Every request of the original trace is kept with its own prompt and output lengths;
only its arrival time moves. The original arrivals are spread over about an hour at a
roughly constant rate; each one's fraction u of the trace's requests-so-far is mapped
to the time t at which a day-shaped rate profile has delivered the same fraction
(a deterministic time change, so bursts in the original stay bursts). The day is 24
"hours" of 150 s (one hour in total): a night trough at 15% of the peak, a ramp from
06:00, a plateau from 10:00 to 16:00, a decline to 22:00.

Output: the generic CSV of docs/simulator.md (timestamp_s,input_tokens,output_tokens).
Usage: data/traces/derived/make_diurnal.py   (from the repository root)
"""
import bisect
import csv
import datetime
import math
import os

DAY_S = 3600.0
HOUR_S = DAY_S / 24


def rate(t):
    h = t / HOUR_S
    night = 0.15
    if h < 6 or h >= 22:
        return night
    if h < 10:
        x = (h - 6) / 4
        return night + (1 - night) * 0.5 * (1 - math.cos(math.pi * x))
    if h < 16:
        return 1.0
    x = (h - 16) / 6
    return night + (1 - night) * 0.5 * (1 + math.cos(math.pi * x))


def cumulative(n=24 * 600):
    ts = [DAY_S * i / n for i in range(n + 1)]
    cum = [0.0]
    for i in range(n):
        cum.append(cum[-1] + 0.5 * (rate(ts[i]) + rate(ts[i + 1])) * (ts[i + 1] - ts[i]))
    total = cum[-1]
    return ts, [c / total for c in cum]


def warp(src, dst):
    rows = []
    with open(src) as f:
        r = csv.reader(f)
        next(r)
        for ts, i, o in r:
            t = datetime.datetime.strptime(ts[:26], "%Y-%m-%d %H:%M:%S.%f")
            rows.append((t, int(i), int(o)))
    t0, t1 = rows[0][0], rows[-1][0]
    span = (t1 - t0).total_seconds()
    ts, cum = cumulative()
    with open(dst, "w") as f:
        f.write("# Derived from %s (Azure LLM inference trace 2023, CC-BY 4.0) by\n"
                "# data/traces/derived/make_diurnal.py: same requests, arrival times\n"
                "# time-changed to a day-shaped rate profile compressed into one hour.\n"
                % os.path.basename(src))
        f.write("timestamp_s,input_tokens,output_tokens\n")
        for t, i, o in rows:
            u = (t - t0).total_seconds() / span
            k = min(max(bisect.bisect_left(cum, u), 1), len(cum) - 1)
            a = ts[k - 1] + (ts[k] - ts[k - 1]) * (u - cum[k - 1]) / max(cum[k] - cum[k - 1], 1e-15)
            f.write("%.6f,%d,%d\n" % (a, i, o))


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "azure-2023")
    for name in ("code", "conv"):
        warp(os.path.join(src, "AzureLLMInferenceTrace_%s.csv" % name),
             os.path.join(here, "diurnal_%s.csv" % name))
