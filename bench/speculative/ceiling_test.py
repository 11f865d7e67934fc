#!/usr/bin/env python3
"""Unit test of ceiling.py's arithmetic (no models, no binaries). CTest: bench_speculative_ceiling_test."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ceiling  # noqa: E402

# Costs in target decode steps, shaped like the 1.5B <- 0.5B pair on a CPU: verify grows with rows.
C = 0.35
V = {1: 1.0, 2: 1.3, 3: 1.5, 4: 1.7, 5: 1.9, 6: 2.15}


class CeilingTest(unittest.TestCase):
    def test_expected_tokens(self):
        self.assertAlmostEqual(ceiling.expected_tokens(0.0, 4), 1.0)  # only the correction token
        self.assertAlmostEqual(ceiling.expected_tokens(0.5, 1), 1.5)
        self.assertAlmostEqual(ceiling.expected_tokens(0.78, 4), (1 - 0.78 ** 5) / 0.22)
        with self.assertRaises(ValueError):
            ceiling.expected_tokens(1.0, 4)
        with self.assertRaises(ValueError):
            ceiling.expected_tokens(0.5, -1)

    def test_speedup_matches_the_round_by_hand(self):
        # gamma = 4 at alpha = 0.78: 3.2331 tokens for 4 * 0.35 + 1.9 = 3.3 steps.
        self.assertAlmostEqual(ceiling.speedup(0.78, 4, C, V), 3.23310 / 3.3, places=4)
        self.assertAlmostEqual(ceiling.speedup(0.9, 0, C, V), 1.0)  # gamma = 0 is target-only

    def test_best_gamma_never_below_target_only_and_grows_with_alpha(self):
        self.assertEqual(ceiling.best_gamma(0.1, C, V), (0, 1.0))
        g_lo, s_lo = ceiling.best_gamma(0.7, C, V)
        g_hi, s_hi = ceiling.best_gamma(0.95, C, V)
        self.assertGreater(s_hi, s_lo)
        self.assertGreaterEqual(g_hi, g_lo)
        self.assertLessEqual(g_hi, 5)  # only measured verify sizes

    def test_alpha_needed(self):
        a = ceiling.alpha_needed(1.2, C, V)
        self.assertIsNotNone(a)
        self.assertGreaterEqual(ceiling.best_gamma(a, C, V)[1], 1.2 - 1e-9)
        self.assertLess(ceiling.best_gamma(a - 0.01, C, V)[1], 1.2)
        # Even every draft accepted, 6 tokens for 5 * 0.35 + 2.15 = 3.9 steps: 1.54x at most.
        self.assertIsNone(ceiling.alpha_needed(2.0, C, V))
        self.assertIsNotNone(ceiling.alpha_needed(2.0, 0.0, {n: 1.0 for n in V}))

    def test_extra_node(self):
        g, s = ceiling.best_gamma(0.78, C, V)
        pays, m = ceiling.extra_node_pays(0.78, g, s, V)
        self.assertAlmostEqual(m, V[g + 2] - V[g + 1])
        self.assertEqual(pays, 0.22 > m * s)
        # A free extra row always pays while anything is rejected; the largest gamma has no v(gamma + 2).
        self.assertTrue(ceiling.extra_node_pays(0.78, 2, 1.0, {**V, 4: V[3]})[0])
        self.assertEqual(ceiling.extra_node_pays(0.78, 5, 1.0, V), (None, None))
        self.assertEqual(ceiling.extra_node_pays(0.5, 0, 1.0, V), (None, None))  # no chain to branch from

    def test_costs_from_runs_takes_medians(self):
        verify = {2: [{"verify_over_one_median": 1.2}, {"verify_over_one_median": 1.4},
                      {"verify_over_one_median": 1.3}]}
        decode = [({"decode_tokens_per_s": 20.0}, {"decode_tokens_per_s": 50.0}),
                  ({"decode_tokens_per_s": 20.0}, {"decode_tokens_per_s": 40.0})]
        c, v = ceiling.costs_from_runs(verify, decode)
        self.assertAlmostEqual(c, (0.4 + 0.5) / 2)
        self.assertEqual(v, {1: 1.0, 2: 1.3})

    def test_table_has_a_row_per_alpha(self):
        rows = ceiling.table(C, V, alphas=[0.6, 0.78])
        self.assertEqual(len(rows), 4)
        self.assertTrue(rows[3].startswith("| 0.78 | "))


if __name__ == "__main__":
    unittest.main()
