"""The simulate report opened in a real browser (Debian's chromium, headless).

`variantctl report` renders the fixture result; Chromium loads the page, runs its
script (which measures what was actually drawn in every plot) and dumps the DOM; a
screenshot is decoded here (PNG by hand: zlib + the five row filters) and checked
for ink and for the colors of the plotted series. When `variantctl simulate` exists,
a tiny simulation's --html output goes through the same checks.

Environment: VARIANTCTL, CHROMIUM, REPORT_FIXTURES, VARIANT_SOURCE_DIR (set by ctest).
Keep a copy of the screenshots with REPORT_KEEP=DIR.
"""
import html.parser
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

VARIANTCTL = os.environ.get("VARIANTCTL", "variantctl")
CHROMIUM = os.environ.get("CHROMIUM", "chromium")
FIXTURES = os.environ.get("REPORT_FIXTURES", os.path.join(os.path.dirname(__file__), "fixtures"))
SOURCE_DIR = os.environ.get("VARIANT_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

# Plots every complete result has: kind -> (how many, least drawn series in each).
EXPECTED_PLOTS = {"cost-bars": (1, 5), "demand": (1, 1), "replicas": (5, 1), "cost": (1, 5),
                  "ttft-cdf": (1, 5), "itl-cdf": (1, 5)}


def decode_png(data):
    """(width, height, channels, pixel rows as bytes) of an 8-bit RGB/RGBA PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth} color type {color} interlace {interlace}")
    ch = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * ch
    rows, prev, off = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[off], bytearray(raw[off + 1:off + 1 + stride])
        off += 1 + stride
        if ftype == 1:
            for i in range(ch, stride):
                line[i] = (line[i] + line[i - ch]) & 255
        elif ftype == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ftype == 4:
            for i in range(stride):
                a = line[i - ch] if i >= ch else 0
                b, c = prev[i], prev[i - ch] if i >= ch else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif ftype != 0:
            raise ValueError(f"bad PNG filter {ftype}")
        rows.append(bytes(line))
        prev = line
    return width, height, ch, rows


def color_histogram(png_bytes):
    width, height, ch, rows = decode_png(png_bytes)
    counts = {}
    for row in rows:
        for x in range(0, width * ch, ch):
            px = row[x:x + 3]
            counts[px] = counts.get(px, 0) + 1
    return width * height, counts


class PlotParser(html.parser.HTMLParser):
    """Collects each <svg data-plot>, the fills of its data series, and <body>'s marks."""

    def __init__(self):
        super().__init__()
        self.plots, self.body, self._svg = [], {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "svg" and "data-plot" in a:
            self._svg = {"attrs": a, "fills": []}
            self.plots.append(self._svg)
        elif self._svg is not None and "data-series" in a and a.get("fill", "none") != "none":
            self._svg["fills"].append(a["fill"])

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None


class Browser:
    def __init__(self, tmp):
        self.tmp = tmp

    def run(self, *args):
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage",
               f"--user-data-dir={os.path.join(self.tmp, 'profile')}", *args]
        env = dict(os.environ, HOME=self.tmp)
        return subprocess.run(cmd, capture_output=True, timeout=120, env=env, check=False)

    def dom(self, page):
        r = self.run("--dump-dom", "file://" + page)
        if r.returncode != 0:
            raise AssertionError(f"chromium --dump-dom failed: {r.stderr.decode()[-2000:]}")
        return r.stdout.decode()

    def screenshot(self, page, out, width=1100, height=4600):
        # Half scale: the whole page in 550 x 2300 pixels, quick to decode here.
        r = self.run("--force-device-scale-factor=0.5", f"--screenshot={out}",
                     f"--window-size={width},{height}", "file://" + page)
        if r.returncode != 0 or not os.path.exists(out):
            raise AssertionError(f"chromium --screenshot failed: {r.stderr.decode()[-2000:]}")
        with open(out, "rb") as f:
            return f.read()


class ReportInChromium(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which(CHROMIUM) is None:
            raise AssertionError(f"{CHROMIUM} not found: scripts/bootstrap.sh installs Debian's chromium")
        cls.tmp = tempfile.mkdtemp(prefix="report-test-")
        cls.browser = Browser(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        keep = os.environ.get("REPORT_KEEP")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for name in os.listdir(cls.tmp):
                if name.endswith((".png", ".html")):
                    shutil.copy(os.path.join(cls.tmp, name), keep)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def render(self, result_json, name):
        out = os.path.join(self.tmp, name + ".html")
        r = subprocess.run([VARIANTCTL, "report", "--in", result_json, "--html", out],
                           capture_output=True, timeout=60, check=False)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return out

    def check_page(self, page, name, expected_policies=5, strict_colors=True):
        parser = PlotParser()
        parser.feed(self.browser.dom(page))
        kinds = {}
        for p in parser.plots:
            kinds.setdefault(p["attrs"]["data-plot"], []).append(p)
        for kind, (count, least) in EXPECTED_PLOTS.items():
            if kind == "replicas":
                count = expected_policies
            if kind in ("cost-bars", "cost", "ttft-cdf", "itl-cdf"):
                least = expected_policies
            self.assertEqual(len(kinds.get(kind, [])), count, f"{name}: plots of kind {kind}")
            for p in kinds.get(kind, []):
                a = p["attrs"]
                # Set by the page's script from what the browser laid out: drawn length > 0.
                self.assertIn("data-drawn-series", a, f"{name}: the page's script did not run")
                self.assertGreaterEqual(int(a["data-drawn-series"]), least, f"{name}: {kind}")
                self.assertGreater(int(a["data-drawn-length"]), 100, f"{name}: {kind}")
        self.assertEqual(int(parser.body.get("data-plots-drawn", -1)), len(parser.plots))

        png = self.browser.screenshot(page, os.path.join(self.tmp, name + ".png"))
        total, colors = color_histogram(png)
        white = colors.get(b"\xff\xff\xff", 0)
        self.assertGreater(len(colors), 200, f"{name}: too few distinct colors for plots and text")
        self.assertGreater(1 - white / total, 0.08, f"{name}: the screenshot is nearly blank")
        # Every variant band of the replica panels is on screen in its own color.
        fills = {f for p in kinds["replicas"] for f in p["fills"]}
        self.assertGreaterEqual(len(fills), 1)
        drawn = {f: colors.get(bytes.fromhex(f.lstrip("#")), 0) for f in fills}
        if strict_colors:
            for f, n in drawn.items():
                self.assertGreater(n, 150, f"{name}: variant color {f} not drawn")
        else:  # a variant used for one sample is a band too thin to count pixels of
            self.assertGreater(max(drawn.values()), 150, f"{name}: no variant band drawn: {drawn}")
        return parser

    def test_fixture_report(self):
        page = self.render(os.path.join(FIXTURES, "result.json"), "fixture")
        parser = self.check_page(page, "fixture")
        fills = {f for p in parser.plots if p["attrs"]["data-plot"] == "replicas" for f in p["fills"]}
        self.assertEqual(len(fills), 6)  # six variants in the fixture, six colors

    def test_simulate_html(self):
        """A tiny `variantctl simulate --json --html`: the JSON follows the schema the
        report reads, and its page passes the same browser checks."""
        config = os.path.join(SOURCE_DIR, "examples", "simulate.yaml")
        probe = subprocess.run([VARIANTCTL, "simulate", "--help"], capture_output=True, timeout=60)
        if probe.returncode != 0 or not os.path.exists(config):
            self.skipTest("variantctl simulate or examples/simulate.yaml not there yet")
        out_json = os.path.join(self.tmp, "sim.json")
        page = os.path.join(self.tmp, "simulate.html")
        r = subprocess.run([VARIANTCTL, "simulate", "--config", config, "--duration", "300",
                            "--quiet", "--json", out_json, "--html", page],
                           capture_output=True, timeout=180, cwd=SOURCE_DIR)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        with open(out_json) as f:
            res = json.load(f)
        self.assertEqual(res.get("schema"), "variant-simulate/1")
        for k in ("duration_s", "seeds", "cold_start_s", "scale_down_window_s", "models",
                  "accelerators", "policies", "savings"):
            self.assertIn(k, res)
        self.assertEqual(set(res["policies"]), {"static", "hpa", "wva", "variant", "oracle"})
        for name, p in res["policies"].items():
            for k in ("cost_usd", "gpu_hours", "slo_attainment", "utilization", "ttft_p95_ms",
                      "itl_p95_ms", "scaling_actions", "reversals", "per_model", "series",
                      "ttft_ms_hist", "itl_ms_hist"):
                self.assertIn(k, p, f"{name}.{k}")
            n = len(p["series"]["t_s"])
            self.assertGreater(n, 2, name)
            self.assertEqual(len(p["series"]["cost_per_hour"]), n, name)
            for h in ("ttft_ms_hist", "itl_ms_hist"):
                self.assertEqual(len(p[h]["edges"]), len(p[h]["counts"]) + 1, f"{name}.{h}")
        self.assertIn("hpa_target", res["policies"]["hpa"])
        self.assertIn("hpa_sweep", res["policies"]["hpa"])
        with open(page) as f:
            self.assertNotIn('id="missing"', f.read())  # the renderer found everything
        parser = self.check_page(page, "simulate", expected_policies=5, strict_colors=False)
        # Attainment over time: one panel per model, a line per policy, drawn.
        for name, p in res["policies"].items():
            att = p["series"]["slo_attainment"]
            self.assertEqual(set(att), {m["model"] for m in res["models"]}, name)
            for m, v in att.items():
                self.assertEqual(len(v), len(p["series"]["t_s"]), f"{name}.{m}")
                self.assertTrue(all(x is None or 0 <= x <= 1 for x in v), f"{name}.{m}")
        panels = [p for p in parser.plots if p["attrs"]["data-plot"] == "attainment"]
        self.assertEqual(len(panels), len(res["models"]))
        for p in panels:
            self.assertGreaterEqual(int(p["attrs"]["data-drawn-series"]), 5)
            self.assertGreater(int(p["attrs"]["data-drawn-length"]), 100)

    def test_report_bad_input(self):
        r = subprocess.run([VARIANTCTL, "report", "--in", os.path.join(self.tmp, "absent.json"),
                            "--html", os.path.join(self.tmp, "x.html")], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"cannot read result file", r.stderr)
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"schema": "variant-simulate/1", "policies": {')
        r = subprocess.run([VARIANTCTL, "report", "--in", bad, "--html", os.path.join(self.tmp, "x.html")],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"is not JSON", r.stderr)


if __name__ == "__main__":
    unittest.main()
