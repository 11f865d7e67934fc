#!/usr/bin/env python3
"""Unit test of compare_llama_speculative.py's reading of llama-speculative-simple's log (the lines
its speculative-simple.cpp prints, with llama.cpp's log prefixes). CTest: bench_compare_llama_speculative_test."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_llama_speculative as cls  # noqa: E402

LOG = """0.01.239.274 I common_speculative_init_result: loading draft model 'qwen2.5-coder-0.5b.gguf'
0.11.870.112 I decoded  133 tokens in   10.603 seconds, speed:   12.543 t/s
0.11.870.120 I n_draft   = 4
0.11.870.121 I n_predict = 133
0.11.870.122 I n_drafted = 128
0.11.870.123 I n_accept  = 101
0.11.870.124 I accept    = 78.906%
"""


class ParseTest(unittest.TestCase):
    def test_reads_tokens_speed_and_acceptance(self):
        tokens, tps, acceptance = cls.parse_llama_speculative(LOG)
        self.assertEqual(tokens, 133)
        self.assertAlmostEqual(tps, 12.543)
        self.assertAlmostEqual(acceptance, 0.78906)

    def test_acceptance_is_optional(self):
        text = "\n".join(l for l in LOG.splitlines() if "accept    =" not in l)
        self.assertIsNone(cls.parse_llama_speculative(text)[2])

    def test_a_log_without_the_speed_line_is_an_error(self):
        with self.assertRaises(ValueError):
            cls.parse_llama_speculative("E failed to initialize speculative decoding\n")


if __name__ == "__main__":
    unittest.main()
