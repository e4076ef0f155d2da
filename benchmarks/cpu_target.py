"""Does the CPU numba compiles for change the fit time?  The same fit, kernels for the host CPU against generic x86-64.

    python benchmarks/cpu_target.py                        # fresh caches: compiles twice first (minutes)
    python benchmarks/cpu_target.py --host-cache DIR --generic-cache DIR --rounds 2

Each round runs two child processes one after the other, one with numba's default target (the host CPU, e.g.
AVX2) and one with ``NUMBA_CPU_NAME=generic``, each with its own ``NUMBA_CACHE_DIR``; a child fits 300,000
generated rows x 28 features, 30 trees, one thread, twice after a warm-up fit, and reports its best time and a
checksum of its predictions (the models must be the same: no fast-math, so the target changes speed only).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import time, numpy as np
from shrinktree import ShrinkBoostRegressor
rng = np.random.default_rng(0)
X = rng.normal(size=(300_000, 28))
y = X[:, 0] + np.sin(X[:, 1]) * X[:, 2] + rng.normal(size=300_000)
ShrinkBoostRegressor(n_estimators=2, n_jobs=1).fit(X[:30_000], y[:30_000])
times = []
for _ in range(2):
    start = time.perf_counter()
    model = ShrinkBoostRegressor(n_estimators=30, n_jobs=1, random_state=0).fit(X, y)
    times.append(time.perf_counter() - start)
print(min(times), repr(float(model.predict(X[:1000]).sum())))
"""


def run_child(cache_dir: str, generic: bool) -> tuple[float, str]:
    """Best fit seconds and the predictions' checksum of one child."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, SHRINKTREE_COMPILE_NOTICE="0")
    env.pop("NUMBA_CPU_NAME", None)
    if generic:
        env["NUMBA_CPU_NAME"] = "generic"
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    seconds, checksum = done.stdout.split()
    return float(seconds), checksum


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host-cache", help="NUMBA_CACHE_DIR for the host-CPU kernels (default: a fresh one)")
    parser.add_argument("--generic-cache", help="NUMBA_CACHE_DIR for the generic kernels (default: a fresh one)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        host = args.host_cache or os.path.join(tmp, "host")
        generic = args.generic_cache or os.path.join(tmp, "generic")
        results = {"host CPU": [], "generic x86-64": []}
        for _ in range(args.rounds):
            for name, cache, is_generic in (("host CPU", host, False), ("generic x86-64", generic, True)):
                results[name].append(run_child(cache, is_generic))
    for name, runs in results.items():
        checksums = sorted({c for _, c in runs})
        fits = ", ".join(f"{seconds:.2f}" for seconds, _ in runs)
        print(f"{name}: best fit {fits} s; predictions checksum {', '.join(checksums)}")
    same = len({c for runs in results.values() for _, c in runs}) == 1
    print("same predictions" if same else "PREDICTIONS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
