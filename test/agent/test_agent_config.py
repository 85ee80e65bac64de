"""Start-up checks: the agent refuses a libvariant of another ABI, a missing or broken
policy plugin, and a bad config, each with a clear message and exit code 1."""
import os
import subprocess
import unittest

import zmq

import yaml

import agent_harness as H

FAKE_DIR = os.environ.get("VARIANT_FAKE_LIB_DIR", "")


def run_agent(cfg, d):
    path = os.path.join(d, "agent.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    p = subprocess.run([H.AGENT, "--config", path], capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


class ConfigTest(unittest.TestCase):
    @unittest.skipUnless(os.path.exists(os.path.join(FAKE_DIR, "libfake_libvariant_abi99.so")),
                         "fixture not built")
    def test_refuses_libvariant_with_another_abi(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d)
            del cfg["policies"]
            cfg["libvariant"] = os.path.join(FAKE_DIR, "libfake_libvariant_abi99.so")
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("ABI version mismatch", out)
            self.assertIn("ABI 99", out)

    def test_refuses_missing_libvariant(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d)
            del cfg["policies"]
            cfg["libvariant"] = os.path.join(d, "nope.so")
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("dlopen failed", out)

    def test_unknown_policy_plugin(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d, policy="no-such-policy")
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("policy plugin 'no-such-policy' not found", out)

    def test_plugin_crashing_at_load_is_refused_with_a_message(self):
        # docs/faults.md: the plugin is tried in a child process first.
        with H.temp_dir() as d:
            cfg = H.base_config(d, policy="crash-at-load", params={})
            cfg["plugin_dirs"] = [os.environ["VARIANT_FAKE_LIB_DIR"]]
            with open(cfg["state_file"], "wb") as f:
                f.write(b"previous state")
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("libvariant_policy_crash_at_load.so", out)
            self.assertRegex(out, r"(crashed|failed) at load")
            with open(cfg["state_file"], "rb") as f:
                self.assertEqual(f.read(), b"previous state")  # left for the next start

    def test_curve_key_errors_name_the_field(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d)
            cfg["bus"]["curve"] = {"secret_key": "not-a-key"}
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("bus.curve.secret_key", out)
            pub, sec = zmq.curve_keypair()
            cfg["bus"]["curve"] = {"secret_key": sec.decode(), "public_key": pub.decode()}
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("allowed_publishers", out)

    def test_bad_plugin_params(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d, policy="hpa", params={"target": -1})
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("target", out)

    def test_bad_mode(self):
        with H.temp_dir() as d:
            cfg = H.base_config(d)
            cfg["mode"] = "sideways"
            rc, out = run_agent(cfg, d)
            self.assertEqual(rc, 1, out)
            self.assertIn("mode must be", out)


if __name__ == "__main__":
    unittest.main()
