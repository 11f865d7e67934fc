#!/usr/bin/env python3
"""Unit tests of bench/eval/eval_stats.py (bootstrap CI on a fixed seed, Spearman). CTest: bench_eval_stats_test."""
import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_stats as es  # noqa: E402


class BootstrapTest(unittest.TestCase):
    def test_same_seed_same_interval(self):
        xs = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1]
        self.assertEqual(es.bootstrap_ci(xs, seed=3), es.bootstrap_ci(xs, seed=3))

    def test_interval_contains_point_and_is_inside_range(self):
        xs = [1] * 7 + [0] * 13
        p, lo, hi = es.bootstrap_ci(xs, seed=0)
        self.assertAlmostEqual(p, 0.35)
        self.assertLessEqual(0.0, lo)
        self.assertLess(lo, p)
        self.assertLess(p, hi)
        self.assertLessEqual(hi, 1.0)

    def test_binomial_width_matches_normal_approximation(self):
        # n = 400, p = 0.35: the normal approximation's half width is 1.96 sqrt(p(1-p)/n) = 0.0467.
        xs = [1] * 140 + [0] * 260
        p, lo, hi = es.bootstrap_ci(xs, resamples=4000, seed=1)
        self.assertAlmostEqual((hi - lo) / 2, 1.96 * math.sqrt(0.35 * 0.65 / 400), delta=0.006)

    def test_constant_and_single(self):
        self.assertEqual(es.bootstrap_ci([2.5, 2.5, 2.5]), (2.5, 2.5, 2.5))
        self.assertEqual(es.bootstrap_ci([4.0]), (4.0, 4.0, 4.0))
        with self.assertRaises(ValueError):
            es.bootstrap_ci([])

    def test_paired_ratio(self):
        pairs = [(10.0, 30.0), (12.0, 33.0), (9.0, 28.0), (11.0, 35.0)]
        ratio = lambda ps: sum(a for a, _ in ps) / sum(b for _, b in ps)
        p, lo, hi = es.bootstrap_ci(pairs, stat=ratio, seed=0)
        self.assertAlmostEqual(p, 42 / 126)
        self.assertLessEqual(lo, p)
        self.assertGreaterEqual(hi, p)

    def test_skip_nan_leaves_out_undefined_resamples(self):
        pairs = [(0.1, 0.0), (0.2, 0.0), (0.7, 1.0), (0.9, 1.0)]
        rho = lambda ps: es.spearman([a for a, _ in ps], [b for _, b in ps])
        self.assertTrue(math.isnan(es.bootstrap_ci(pairs, stat=rho, seed=0)[1]))
        p, lo, hi = es.bootstrap_ci(pairs, stat=rho, seed=0, skip_nan=True)
        self.assertAlmostEqual(p, 0.8944271909999159)
        self.assertTrue(-1.0 <= lo <= hi <= 1.0)

    def test_quantile_interpolates(self):
        self.assertEqual(es.quantile([0, 10], 0.25), 2.5)
        self.assertEqual(es.quantile([1, 2, 3, 4, 5], 0.5), 3)
        self.assertEqual(es.quantile([1, 2, 3, 4, 5], 1.0), 5)


class SpearmanTest(unittest.TestCase):
    def test_monotone(self):
        self.assertAlmostEqual(es.spearman([1, 2, 3, 4], [10, 20, 30, 400]), 1.0)
        self.assertAlmostEqual(es.spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1.0)

    def test_known_value_without_ties(self):
        # 1 - 6 sum d^2 / (n (n^2 - 1)): d = (0, -2, 1, 1, 0) -> 1 - 36 / 120 = 0.7
        self.assertAlmostEqual(es.spearman([1, 2, 3, 4, 5], [1, 4, 2, 3, 5]), 0.7)

    def test_ties_use_average_ranks(self):
        self.assertEqual(es.ranks([3, 1, 3, 2]), [3.5, 1.0, 3.5, 2.0])
        # a binary outcome vs a score: ranks (1, 3, 2, 4) vs (1.5, 1.5, 3.5, 3.5) -> 2 / sqrt(20)
        self.assertAlmostEqual(es.spearman([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.4472135954999579)
        self.assertAlmostEqual(es.spearman([0.1, 0.2, 0.35, 0.8], [0, 0, 1, 1]), 0.8944271909999159)

    def test_constant_is_nan(self):
        self.assertTrue(math.isnan(es.spearman([1, 2, 3], [1, 1, 1])))

    def test_invariant_under_monotone_transform(self):
        rng = random.Random(5)
        xs = [rng.random() for _ in range(30)]
        ys = [x + rng.gauss(0, 0.3) for x in xs]
        self.assertAlmostEqual(es.spearman(xs, ys), es.spearman([math.exp(5 * x) for x in xs], ys))


if __name__ == "__main__":
    unittest.main()
