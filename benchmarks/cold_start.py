"""Cold start: kernel compilation with an empty numba cache, and the cost of ``import shrinktree``.

A child interpreter with ``NUMBA_CACHE_DIR`` pointed at an empty temporary directory runs a
typical session (a regressor on 2,000 rows, a categorical fit, a regressor on 30,000 rows with two
threads, binary and multiclass classifiers, predictions), timing each step and counting the kernel
specializations numba compiles (``numba:compile`` events).  A second child repeats the session
with the now warm cache.  ``--import`` also measures ``import shrinktree`` over importing
scikit-learn and pandas (best of 5 fresh interpreters each).

Run from the repository root::

    python benchmarks/cold_start.py              # cold and warm session
    python benchmarks/cold_start.py --import     # also the import time
    python benchmarks/cold_start.py --warmup     # the session after `shrinktree warmup` in the cold cache
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

SESSION = r"""
import json, sys, time
t0 = time.perf_counter()
from collections import Counter
from numba.core import event
class Count(event.Listener):
    # Seconds of each kernel's own compilation (its callees' compilations, nested events, left out).
    def __init__(self):
        self.depth, self.top, self.names, self.all = 0, 0.0, Counter(), 0
        self.own, self.stack = Counter(), []
    def on_start(self, ev):
        if self.depth == 0:
            self.started = time.perf_counter()
        self.depth += 1
        self.all += 1
        func = ev.data["dispatcher"].py_func
        name = func.__module__.split(".")[-1] + "." + func.__qualname__
        if func.__module__.startswith("shrinktree"):
            self.names[name] += 1
        else:
            name = "numba helpers"
        self.stack.append([name, time.perf_counter(), 0.0])
    def on_end(self, ev):
        self.depth -= 1
        name, start, inner = self.stack.pop()
        seconds = time.perf_counter() - start
        self.own[name] += seconds - inner
        if self.stack:
            self.stack[-1][2] += seconds
        if self.depth == 0:
            self.top += time.perf_counter() - self.started
count = Count()
event.register("numba:compile", count)
import numpy as np, pandas as pd
t1 = time.perf_counter()
import shrinktree
from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
steps = {"import shrinktree": time.perf_counter() - t1}
if sys.argv[1] == "1":
    s = time.perf_counter(); shrinktree.warmup(); steps["warmup()"] = time.perf_counter() - s
rng = np.random.default_rng(0)
def data(n, categorical=False):
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=list("abcdef"))
    y = X["a"] + np.sin(X["b"]) + rng.normal(size=n)
    if categorical:
        g = rng.integers(0, 50, n)
        X["g"] = pd.Categorical(g)
        y = y + rng.normal(size=50)[g]
    return X, y.to_numpy()
def step(name, fn):
    s = time.perf_counter(); fn(); steps[name] = time.perf_counter() - s
X, y = data(2000)
step("regressor 2,000 rows", lambda: ShrinkBoostRegressor(n_estimators=50, random_state=0).fit(X, y).predict(X))
Xc, yc = data(2000, True)
step("categorical 2,000 rows", lambda: ShrinkBoostRegressor(n_estimators=50, random_state=0).fit(Xc, yc).predict(Xc))
Xl, yl = data(30000, True)
step("regressor 30,000 rows, 2 threads",
     lambda: ShrinkBoostRegressor(n_estimators=20, n_jobs=2, random_state=0).fit(Xl, yl).predict(Xl))
step("binary 2,000 rows", lambda: ShrinkBoostClassifier(n_estimators=50, random_state=0).fit(X, y > 0).predict_proba(X))
step("multiclass 2,000 rows",
     lambda: ShrinkBoostClassifier(n_estimators=20, random_state=0).fit(X, np.digitize(y, [-1, 1])).predict_proba(X))
ours = sum(count.names.values())
out = {"steps": steps, "compiled": ours, "helpers": count.all - ours, "compile_s": count.top,
       "functions": len(count.names),
       "total": time.perf_counter() - t0, "top": count.names.most_common(12), "slowest": count.own.most_common(10)}
print(json.dumps(out))
"""

IMPORT_BASE = "import sklearn, sklearn.base, pandas, numpy"


def run_session(cache_dir: str, warmup: bool) -> dict:
    """Run the session in a child with ``cache_dir`` as numba's cache; returns its timings."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=str(REPO_ROOT))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SESSION, "1" if warmup else "0"], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = time.perf_counter() - start
    out["stderr"] = done.stderr
    return out


def import_time(code: str, repeats: int = 5) -> float:
    """Best wall time of ``python -c code`` over ``repeats`` fresh interpreters."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    """Print the cold and warm session timings (and the import time with ``--import``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--import", dest="imports", action="store_true", help="also measure import shrinktree")
    parser.add_argument("--warmup", action="store_true", help="call shrinktree.warmup() first in the cold child")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold", "warm"):
            out = run_session(cache, args.warmup and label == "cold")
            print(f"{label}: wall {out['wall']:.2f} s, {out['compiled']} specializations of {out['functions']} "
                  f"shrinktree kernels (and {out['helpers']} of numba's own helpers) compiled in "
                  f"{out['compile_s']:.2f} s")
            for name, seconds in out["steps"].items():
                print(f"  {name:<36} {seconds:6.2f} s")
            if label == "cold":
                print("  most specialized:", ", ".join(f"{n} x{c}" for n, c in out["top"]))
                print("  longest own compile (callees excluded, all specializations):",
                      ", ".join(f"{n} {s:.1f} s" for n, s in out["slowest"]))
                lines = [line for line in out["stderr"].splitlines() if line.startswith("shrinktree")]
                print(f"  stderr lines from shrinktree: {len(lines)}")
                for line in lines[:3]:
                    print(f"    {line}")
    if args.imports:
        base = import_time(IMPORT_BASE)
        for extra in ("; import shrinktree", "; from shrinktree import ShrinkBoostRegressor"):
            full = import_time(IMPORT_BASE + extra)
            print(f"{extra[2:]}: {full:.3f} s against {base:.3f} s for scikit-learn + pandas alone "
                  f"(adds {full - base:.3f} s; best of 5 fresh interpreters each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
