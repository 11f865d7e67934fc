#!/usr/bin/env python3
"""Unit tests of bench/eval/summarize.py: loading (a later run of the same (split, item, run)
replaces the earlier line, and a result directory is listed with the lines still in use (none: not
listed)) and the CARDS section's equal-compute comparisons (best-of-4 is the reference, other N are
compared with CARDS line by line). CTest: bench_eval_summarize_test."""
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


def cards_row(item, run, reward, n=None, calls=100, wall=1.0):
    params = {} if n is None else {"n": n}
    return {"split": "test", "item": item, "run": run, "strategy": run.rstrip("0123456789"), "params": params,
            "reward": reward, "wall_s": wall, "raw": {"llm_calls": calls, "reward_items": 1},
            "cpu_model": "cpu", "nproc": 2, "load_before": [1.0], "load_after": [1.0], "utc": "t"}


class CardsSectionTest(unittest.TestCase):
    def test_best_of_4_is_the_reference_and_other_n_are_matched_comparisons(self):
        rows = []
        for item in range(1, 6):
            rows += [cards_row(item, "target_only", 0.1), cards_row(item, "best_of_n2", 0.3, n=2, calls=200),
                     cards_row(item, "best_of_n4", 0.5, n=4, calls=400, wall=4.0),
                     cards_row(item, "cards", 0.4, calls=250, wall=2.0)]
        text = "\n".join(summarize.cards_section(rows, []))
        table = [l for l in text.splitlines() if l.startswith("| ")][1:]  # past the header
        self.assertEqual([l.split(" | ")[0] for l in table], ["| target_only", "| best_of_n2", "| best_of_n4", "| cards"])
        # Deltas are against N = 4, whatever order the runs came in.
        self.assertIn("| cards |  | 0.400 [0.400, 0.400] | -0.100 [-0.100, -0.100] |", text)
        self.assertIn("- CARDS vs best_of_n2 (N = 2: 0.80× CARDS' LLM calls): reward − best_of_n2 = 0.100", text)


if __name__ == "__main__":
    unittest.main()
