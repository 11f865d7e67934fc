"""Statistics for the evaluation summaries (issue 17): percentile bootstrap and Spearman's rho.

Pure Python (no numpy) so the summary and its unit test (tests/bench_eval) run anywhere.
"""
import math
import random


def mean(xs):
    return sum(xs) / len(xs)


def bootstrap_ci(values, stat=mean, resamples=2000, level=0.95, seed=0, skip_nan=False):
    """Percentile bootstrap CI of stat over values (resampled with replacement), fixed seed.

    Returns (point estimate, low, high). One value: (v, v, v). Paired statistics: pass a list of
    tuples and a stat that reads them (the items are resampled together). skip_nan: resamples
    where stat is undefined (nan, e.g. Spearman of a constant resample) are left out; none
    defined gives (point, nan, nan).
    """
    values = list(values)
    if not values:
        raise ValueError("bootstrap_ci of no values")
    point = stat(values)
    if len(values) == 1:
        return point, point, point
    rng = random.Random(seed)
    n = len(values)
    stats = [stat([values[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples)]
    defined = [x for x in stats if x == x]
    if not defined or (len(defined) < len(stats) and not skip_nan):  # nan has no place in a sorted list
        return point, float("nan"), float("nan")
    stats = defined
    stats.sort()
    alpha = (1 - level) / 2
    return point, quantile(stats, alpha), quantile(stats, 1 - alpha)


def quantile(sorted_xs, q):
    """Linear-interpolation quantile (numpy's default) of an ascending list."""
    if not sorted_xs:
        raise ValueError("quantile of no values")
    pos = q * (len(sorted_xs) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (pos - lo) * (sorted_xs[hi] - sorted_xs[lo])


def ranks(xs):
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def pearson(xs, ys):
    mx, my = mean(xs), mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return float("nan")
    return sxy / math.sqrt(sxx * syy)


def spearman(xs, ys):
    """Spearman's rank correlation with average ranks for ties (Pearson of the ranks); nan if constant."""
    if len(xs) != len(ys):
        raise ValueError("spearman: lengths differ")
    if len(xs) < 2:
        return float("nan")
    return pearson(ranks(xs), ranks(ys))


def fmt_ci(point, lo, hi, digits=2):
    f = f"{{:.{digits}f}}"
    return f"{f.format(point)} [{f.format(lo)}, {f.format(hi)}]"
