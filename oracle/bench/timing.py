"""The timing both Python twins of `psionic bench` use, as psionic's own
(`psionic::timing::quartiles_us`): a warm-up, then the median and nearest-rank
quartiles of repeated runs, in microseconds."""
import time


def timed(reps, warmup, f):
    for _ in range(warmup):
        f()
    t = []
    for _ in range(reps):
        s = time.perf_counter()
        f()
        t.append((time.perf_counter() - s) * 1e6)
    t.sort()
    at = lambda q: t[round((len(t) - 1) * q)]  # noqa: E731
    return at(0.5), at(0.25), at(0.75)
