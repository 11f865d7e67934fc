#!/usr/bin/env python3
"""Unit test of cpu_speed_table.py's reading and table (no models, no binaries): a run folder is put
together from raw results committed under bench/results/, and the table must carry their numbers.
CTest: bench_cpu_speed_table_test."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
SCRIPT = os.path.join(HERE, "cpu_speed_table.py")

# Committed raw results (AMD EPYC Zen 3 VM, 2026-12-07) standing in for one run's stages.
STAGE_SOURCES = {
    "llama_bench": ("llama_cpp/20261207T121121Z", False),
    "speculative": ("speculative_llama/20261207T032536Z", False),
    "streams": ("load_adaptive/20261207T085502Z", True),  # True: the stage adds a <stamp> folder
    "serving": ("serving/20261207T102357Z", True),
    "long_context": ("long_context/20261207T071040Z", False),
}


def make_run(tmp, failed=(), not_reached=(), copied=()):
    """Links each stage's committed results into tmp; the stages in `copied` are copies a test may edit."""
    results = {}
    for stage, (src, stamped) in STAGE_SOURCES.items():
        if stage in not_reached:
            continue
        target = os.path.join(tmp, stage)
        if stamped:
            os.makedirs(target)
            target = os.path.join(target, os.path.basename(src))
        if stage in copied:
            shutil.copytree(os.path.join(RESULTS, src), target)
        else:
            os.symlink(os.path.join(RESULTS, src), target)
        results[stage] = dict(rc=1 if stage in failed else 0, seconds=1.0, folder=stage)
    meta = dict(date_utc="20261207T000000Z", cpu_model="AMD EPYC", cpu_flags=["avx2"], nproc=2, git_rev="test",
                stages=list(STAGE_SOURCES), results=results, minutes=1.0)
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump(meta, f)


def table(tmp):
    p = subprocess.run([sys.executable, SCRIPT, "--from-folder", tmp], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def row(md, prefix):
    for line in md.splitlines():
        if line.startswith("| " + prefix):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row starting with {prefix!r} in:\n{md}")


class CpuSpeedTableTest(unittest.TestCase):
    def test_every_stage_gives_its_rows_with_the_raw_numbers(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_run(tmp)
            rc, md, err = table(tmp)
            self.assertEqual(rc, 0, err)
            # llama-bench: best tandem run / best llama-bench sample (24.6 / 21.2 in the raw files).
            r = row(md, "qwen2.5-coder-0.5b decode tg128, 1 thread(s)")
            self.assertEqual(r[1:4], ["24.6", "21.2", "**1.16×**"])
            self.assertIn("not met", r[4])
            r = row(md, "qwen2.5-coder-1.5b prefill pp512, 2 thread(s)")
            self.assertEqual(r[3], "**1.47×**")
            self.assertIn("met", r[4])
            # Speculation: tandem's rate with its own target-only ratio beside llama.cpp's.
            r = row(md, "speculative greedy, qwen2.5-coder-1.5b <- qwen2.5-coder-0.5b")
            self.assertRegex(r[1], r"^\d+\.\d \(\d\.\d\dx\)$")
            self.assertRegex(r[3], r"^\*\*\d\.\d\d×\*\*$")
            # Loopback streams (this raw run measured 4 streams only).
            r = row(md, "4 concurrent stream(s), loopback, 1.5B, T=0.7: target-only / speculative, gamma 4")
            self.assertEqual(r[1], "30.8 / 15.8")
            self.assertEqual(r[3], "**0.51×**")
            r = row(md, "4 concurrent stream(s), loopback, 1.5B, T=0.7: target-only / speculative, default")
            self.assertEqual(r[3], "**1.04×**")
            self.assertIn("≥ 0.95× met", r[4])
            # Serving, and the 16 / 1 scaling.
            self.assertEqual(row(md, "served target-only aggregate, 1 stream(s)")[1:4], ["16.6", "12.1", "**1.37×**"])
            self.assertEqual(row(md, "served target-only aggregate, 16 stream(s)")[3], "**1.60×**")
            self.assertEqual(row(md, "served aggregate, 16 streams / 1 stream")[1], "2.58x")
            # Long context: SmolLM2's files only (the raw run also holds the 0.5B's).
            with open(os.path.join(RESULTS, "long_context/20261207T071040Z/tandem_tg_smollm2-135m.json")) as f:
                want = json.load(f)["decode_tokens_per_s"]
            r = row(md, "smollm2-135m decode after 8160 tokens of context")
            self.assertEqual(r[1], f"{want:.1f}")
            self.assertTrue(re.search(r"AMD EPYC", md))
            with open(os.path.join(tmp, "table.md")) as f:
                self.assertEqual(f.read(), md)

    def test_a_failed_stage_is_reported_and_the_others_still_shown(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_run(tmp, failed=("serving",))
            rc, md, _ = table(tmp)
            self.assertEqual(rc, 1)
            self.assertIn("serving: **failed** (exit status 1", md)
            self.assertNotIn("served target-only aggregate", md)
            row(md, "qwen2.5-coder-0.5b decode tg128, 1 thread(s)")

    def test_malformed_long_context_results_fail_that_stage_only(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_run(tmp, copied=("long_context",))
            # A llama-bench file holding two tests instead of one: long_context's reader raises
            # ValueError, which the table reports as that stage's failure, not a traceback.
            bad = os.path.join(tmp, "long_context", "llama_pp_smollm2-135m.json")
            with open(bad) as f:
                tests = json.load(f)
            with open(bad, "w") as f:
                json.dump(tests * 2, f)
            rc, md, err = table(tmp)
            self.assertEqual(rc, 1)
            self.assertNotIn("Traceback", err)
            self.assertIn("long_context: **failed** (unreadable results:", md)
            self.assertIn("expected one llama-bench test, got 2", md)
            row(md, "speculative greedy")

    def test_an_interrupted_run_shows_the_stages_it_finished(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_run(tmp, not_reached=("serving", "long_context"))
            rc, md, _ = table(tmp)
            self.assertEqual(rc, 1)
            self.assertIn("serving: **failed** (not run", md)
            self.assertIn("long_context: **failed** (not run", md)
            row(md, "speculative greedy")


if __name__ == "__main__":
    unittest.main()
