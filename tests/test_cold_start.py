"""Cold start: the compile notice, the warm-up, and a light ``import shrinktree``."""

import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from shrinktree._compile_notice import CompileNotice

REPO = Path(__file__).resolve().parent.parent


def _event(module: str):
    def kernel():
        pass

    kernel.__module__ = module
    return SimpleNamespace(data={"dispatcher": SimpleNamespace(py_func=kernel)})


def _wait_for(condition, timeout=5.0):
    deadline = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < deadline:
        time.sleep(0.01)
    return condition()


def test_notice_announces_reports_progress_and_the_end():
    stream = io.StringIO()
    notice = CompileNotice(stream=stream, interval=0.1, idle_end=0.3)
    notice.on_start(_event("shrinktree.boosting.histogram"))
    notice.on_start(_event("numba.np.arrayobj"))  # a helper compiled inside our kernel
    assert _wait_for(lambda: any("still compiling" in line for line in notice.lines))
    notice.on_end(None)
    notice.on_end(None)
    notice.wait_idle()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("shrinktree: compiling kernels for the first run")
    assert "shrinktree warmup" in lines[0]
    assert lines[-1].startswith("shrinktree: compiled 1 kernel(s) in")
    assert notice.kernels_compiled == 1
    # no line is further apart than the interval while compiling (plus scheduling slack)
    assert all("compil" in line for line in lines)


def test_notice_ignores_other_libraries_kernels():
    stream = io.StringIO()
    notice = CompileNotice(stream=stream, interval=0.1, idle_end=0.1)
    notice.on_start(_event("my_project.kernels"))
    notice.on_start(_event("numba.np.arrayobj"))
    notice.on_end(None)
    notice.on_end(None)
    notice.wait_idle()
    assert stream.getvalue() == ""
    assert notice.kernels_compiled == 0


def test_a_second_round_says_so():
    stream = io.StringIO()
    notice = CompileNotice(stream=stream, interval=10.0, idle_end=0.05)
    for _ in range(2):
        notice.on_start(_event("shrinktree.losses"))
        notice.on_end(None)
        notice.wait_idle()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("shrinktree: compiling kernels this run has not used before")


def test_closed_stream_does_not_break_compiling():
    stream = io.StringIO()
    stream.close()
    notice = CompileNotice(stream=stream, interval=10.0, idle_end=0.05)
    notice.on_start(_event("shrinktree.losses"))
    notice.on_end(None)
    notice.wait_idle()
    assert notice.kernels_compiled == 1


def test_import_shrinktree_loads_neither_numba_nor_the_estimators():
    code = ("import sys, shrinktree; "
            "assert 'numba' not in sys.modules and 'shrinktree.boosting' not in sys.modules, sorted(sys.modules); "
            "assert 'warmup' in dir(shrinktree); "
            "from shrinktree import ShrinkBoostRegressor; assert 'numba' in sys.modules; "
            "assert 'shrinktree.posthoc' not in sys.modules; "
            "import shrinktree.explain; print(shrinktree.posthoc.shrink.__name__)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "shrink"


def test_unknown_attribute_is_an_attribute_error():
    import shrinktree

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        shrinktree.nothing  # noqa: B018


def test_warmup_command(capsys):
    from shrinktree.cli import main

    assert main(["warmup", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("shrinktree warmup: done in")
    assert "regression losses" not in captured.err  # --quiet lists no steps


UNCOMPILED = """
import json, sys, shrinktree
result = shrinktree.warmup()
from numba.core.registry import CPUDispatcher
uncompiled = [f"{name}.{attribute}" for name, module in sorted(sys.modules.items()) if name.startswith("shrinktree")
              for attribute, value in vars(module).items()
              if isinstance(value, CPUDispatcher) and value.py_func.__module__ == name
              and value.targetoptions.get("inline") != "always" and not value.signatures]
print(json.dumps({"uncompiled": uncompiled, "compiled": result["kernels_compiled"]}))
"""
FIT = ("import numpy as np; from shrinktree import ShrinkBoostRegressor; "
       "X = np.random.default_rng(0).normal(size=(200, 3)); "
       "ShrinkBoostRegressor(n_estimators=2).fit(X, X[:, 0])")


@pytest.mark.slow
def test_warmup_compiles_every_kernel_and_later_runs_are_silent():
    import json

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=cache)
        cold = subprocess.run([sys.executable, "-c", UNCOMPILED], env=env, capture_output=True, text=True, check=True)
        warm = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True, check=True)
    out = json.loads(cold.stdout.strip().splitlines()[-1])
    # Kernels compiled in this process have signatures, so every one that is not inlined was reached.
    assert out["uncompiled"] == []
    assert out["compiled"] > 30
    assert cold.stderr.startswith("shrinktree: compiling kernels for the first run")
    assert "shrinktree: compiled" in cold.stderr
    assert "shrinktree:" not in warm.stderr


@pytest.mark.slow
def test_cold_fit_is_announced_until_the_end_unless_silenced():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=cache)
        cold = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True, check=True)
        quiet = subprocess.run([sys.executable, "-c", FIT], env=dict(env, NUMBA_CACHE_DIR=cache + "/other",
                                                                   SHRINKTREE_COMPILE_NOTICE="0"),
                               capture_output=True, text=True, check=True)
    lines = cold.stderr.splitlines()
    assert lines[0].startswith("shrinktree: compiling kernels for the first run")
    assert lines[-1].startswith("shrinktree: compiled")  # even when the process ends right after compiling
    assert "shrinktree:" not in quiet.stderr
