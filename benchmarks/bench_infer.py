"""Speed of gpt2030's inference, printed as figures (targets live here, not in tests).

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_infer.py``). It measures, on the
shipped ledger:

1. cold and warm wall time of ``gpt2030 infer`` end to end (a fresh process each, imports
   included; cold = empty PyTensor compile cache, warm = the cache the cold run filled);
2. sampling-only time, from the run's manifest;
3. ESS per second of the slowest free parameter for nutpie and for PyMC's own NUTS on the
   same model in the same process;
4. how sampling time grows with 10x and 100x as many observations (simulated from the
   model at its posterior means, so that more data agree with the model).

Targets on the 2-core machine (issue #4): warm infer <= 20 s; sampling <= 5 s; nutpie >= 2x
PyMC NUTS in ESS/s; 100x observations <= 3x the time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from gpt2030.inference.sampling import SamplerConfig, _sample_posterior
from gpt2030.models import DEFAULT, build_model
from gpt2030.observations import Ledger, observation_frame

REPO = Path(__file__).resolve().parents[1]
LEDGER = REPO / "observations" / "ledger.csv"
SEED = 2030


def timed_infer(home: Path, compiledir: Path, force: bool) -> tuple[float, dict]:
    """Wall time of one ``gpt2030 infer`` process, and its run's manifest."""
    env = {**os.environ, "GPT2030_HOME": str(home),
           "PYTENSOR_FLAGS": f"compiledir={compiledir}"}
    cmd = [sys.executable, "-c", "import sys; from gpt2030.cli.main import main; "
           "sys.exit(main(sys.argv[1:]))", "infer", "--seed", str(SEED)]
    if force:
        cmd.append("--force")
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    run_id = out.stdout.strip().splitlines()[-1]
    manifest = json.loads((home / "runs" / run_id / "manifest.json").read_text())
    return wall, manifest


def min_ess_per_second(dt, seconds: float, names: list[str]) -> tuple[float, str]:
    ess = az.ess(dt["posterior"].to_dataset()[names], method="bulk")
    worst = min(names, key=lambda n: float(np.nanmin(ess[n].values)))
    return float(np.nanmin(ess[worst].values)) / seconds, worst


def simulated_model(frame: pd.DataFrame, factor: int, truth: dict[str, np.ndarray]) -> pm.Model:
    """The model with ``factor`` times as many observations, simulated at known parameters.

    Every ledger row is repeated ``factor`` times and every observed value is replaced by a
    draw from the model at ``truth`` (posterior means), so the larger data set agrees with
    the model, as more real evidence would; jittered copies of real rows would instead
    multiply the model's misfits and measure those.
    """
    rows = [frame] + [frame.assign(id=frame["id"] + f":synthetic{i}") for i in range(factor - 1)]
    big = pd.concat(rows).set_index("id", drop=False)
    model = build_model(big, DEFAULT)
    observed = [rv.name for rv in model.observed_RVs]
    with pm.do(model, truth):
        sim = pm.sample_prior_predictive(draws=1, var_names=observed, random_seed=SEED)
    values = {name: sim["prior_predictive"][name].values[0, 0] for name in observed}
    with model:
        pm.set_data({name.removesuffix("_obs") + "_y": value for name, value in values.items()
                     if name != "training_duration_obs"})
    return model


def sample_seconds(model: pm.Model, config: SamplerConfig) -> tuple[float, float, object]:
    timings: dict[str, float] = {}
    dt = _sample_posterior(model, config, SEED, False, timings)
    return timings["sampling"], timings.get("compile", 0.0), dt


def main() -> None:
    rows = Ledger(LEDGER).rows()
    frame = observation_frame(rows)
    print(f"gpt2030 inference benchmark: {len(rows)} observations, {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory() as tmp:
        home, compiledir = Path(tmp) / "home", Path(tmp) / "pytensor"
        (home / "observations").mkdir(parents=True)
        shutil.copy(LEDGER, home / "observations" / "ledger.csv")
        cold, m_cold = timed_infer(home, compiledir, force=False)
        warm, m_warm = timed_infer(home, compiledir, force=True)
        draws = [xr.load_datatree(home / "runs" / m["run_id"] / "run.nc")["posterior"]
                 ["compute_growth"].values for m in (m_cold, m_warm)]
    t = m_warm["timings"]
    print(f"infer end to end, cold: {cold:6.1f} s   (target none)")
    print(f"infer end to end, warm: {warm:6.1f} s   (target <= 20 s)")
    print(f"  of which nutpie compile {t.get('compile', 0):.1f} s, sampling "
          f"{t.get('sampling', 0):.1f} s (target <= 5 s), posterior predictive and log "
          f"densities {t.get('predictive_and_log_densities', 0):.1f} s, prior predictive "
          f"{t.get('prior_predictive', 0):.1f} s")
    print(f"  draws identical cold vs warm (same seed): {np.array_equal(*draws)}")

    model = build_model(frame, DEFAULT)
    names = [rv.name for rv in model.free_RVs]
    config = SamplerConfig()
    secs_nutpie, _, dt_nutpie = sample_seconds(model, config)
    secs_pymc, _, dt_pymc = sample_seconds(model, SamplerConfig(sampler="pymc"))
    ess_nutpie, worst_n = min_ess_per_second(dt_nutpie, secs_nutpie, names)
    ess_pymc, worst_p = min_ess_per_second(dt_pymc, secs_pymc, names)
    print(f"nutpie: sampling {secs_nutpie:.1f} s, slowest ESS/s {ess_nutpie:.0f} ({worst_n})")
    print(f"pymc NUTS: sampling {secs_pymc:.1f} s, slowest ESS/s {ess_pymc:.0f} ({worst_p})")
    print(f"nutpie / pymc ESS/s: {ess_nutpie / ess_pymc:.1f}x   (target >= 2x)")

    post = dt_nutpie["posterior"]
    truth = {n: post[n].mean(("chain", "draw")).values for n in names}
    base = None
    for factor in (1, 10, 100):
        secs, _, _ = sample_seconds(simulated_model(frame, factor, truth), config)
        base = base or secs
        print(f"{factor:>4}x observations ({factor * len(frame):>6} rows, simulated): sampling "
              f"{secs:6.1f} s, {secs / base:4.1f}x the 1x time   (target 100x <= 3x)")


if __name__ == "__main__":
    main()
