#!/usr/bin/env python3
"""Unit tests of bench/eval/summarize.py's loading: a later run of the same (split, item, run)
replaces the earlier line, and a result directory is listed with the lines still in use (none: not
listed). CTest: bench_eval_summarize_test."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summarize  # noqa: E402


def write_run(root, suite, stamp, items, run="cards"):
    d = os.path.join(root, suite, stamp)
    os.makedirs(d)
    with open(os.path.join(d, "results.jsonl"), "w") as f:
        for item, reward in items:
            f.write(json.dumps({"split": "test", "item": item, "run": run, "reward": reward}) + "\n")
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"command": f"run {stamp}", "git_commit": "0" * 40}, f)


class LoadSuiteTest(unittest.TestCase):
    def test_later_runs_replace_lines_and_sources_count_what_is_used(self):
        with tempfile.TemporaryDirectory() as root:
            write_run(root, "cards", "20260101T000000Z", [(1, 0.1), (2, 0.2)])
            write_run(root, "cards", "20260102T000000Z", [(2, 0.9), (3, 0.3)])
            write_run(root, "cards", "20260103T000000Z", [(1, 0.5)])
            rows, metas = summarize.load_suite(root, "cards")
            self.assertEqual({r["item"]: r["reward"] for r in rows}, {1: 0.5, 2: 0.9, 3: 0.3})
            used = {os.path.basename(m["_dir"]): m["_rows"] for m in metas}
            # The first run's lines were all replaced: it is no longer a source.
            self.assertEqual(used, {"20260102T000000Z": 2, "20260103T000000Z": 1})


if __name__ == "__main__":
    unittest.main()
