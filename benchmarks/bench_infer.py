"""Speed of gpt2030's inference, printed as figures and ratios (targets live here, not in tests).

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_infer.py [--seed N]
[--skip-nuts]``). On the shipped ledger, each figure a fresh ``gpt2030`` process (imports
included) unless said otherwise:

1. ``infer`` cold: empty PyTensor compile folder (``base_compiledir``, which also holds
   PyTensor's numba cache) and empty numba cache, in a temporary folder;
2. ``infer`` warm, a first run in a new home with the caches the cold run filled (a full
   re-infer, ``infer --force``, does the same work: same stages, same caches);
3. the stage seconds of both, from their manifests, and whether their draws are identical
   (same seed and settings);
4. the report of the warm run (as ``make forecast`` writes it), then one added row,
   ``observe add ... --update`` on the reweight path, end to end (report included), the
   median of three (each in a copy of the warm home), and the Pareto k-hat and weight ESS
   it recorded;
5. nutpie against PyMC's NUTS: ESS per second of the slowest free parameter, in this
   process, on a shorter run (2 chains x 500 draws, unthinned) so PyMC finishes;
6. sampling time with every row repeated 10x (``--rows 1,10,100`` adds 100x: not
   finished in 47 min on 2 cores), values simulated from the model at one posterior draw,
   against the ledger's, same shorter settings.

Targets (issue #12, 2 cores): cold infer <= 90 s; warm re-infer <= 20 s; one-row update on
the reweight path <= 10 s; nutpie >= 2x PyMC NUTS in ESS/s; 10x rows <= 2x and 100x rows
<= 3x the ledger's sampling time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
LEDGER = REPO / "observations" / "ledger.csv"
CLI = [sys.executable, "-m", "gpt2030.cli.main"]
#: One-row updates timed (the median is the figure).
UPDATE_REPEATS = 3
#: An ordinary 2024 model below the frontier: the one-row update of the benchmark.
ROW = ["--kind", "training_compute", "--subject", "Benchmark model", "--date", "2024-06",
       "--value", "3e24", "--unit", "FLOP", "--status", "estimate", "--source",
       "https://example.org/benchmark-row"]


def gpt2030(home: Path, caches: Path, *args: str) -> tuple[float, str, str]:
    """Run one ``gpt2030`` process; its wall time, stdout and stderr."""
    env = {**os.environ, "GPT2030_HOME": str(home),
           "PYTENSOR_FLAGS": f"base_compiledir={caches / 'pytensor'}",
           "NUMBA_CACHE_DIR": str(caches / "numba")}
    start = time.perf_counter()
    out = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, cwd=home)
    wall = time.perf_counter() - start
    if out.returncode not in (0, 1):
        raise SystemExit(f"gpt2030 {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
    return wall, out.stdout, out.stderr


def new_home(root: Path, name: str) -> Path:
    home = root / name
    (home / "observations").mkdir(parents=True)
    shutil.copy(LEDGER, home / "observations" / "ledger.csv")
    return home


def manifest_of(home: Path, stdout: str) -> dict:
    run_id = stdout.strip().splitlines()[-1]
    return json.loads((home / "runs" / run_id / "manifest.json").read_text())


def stages(m: dict) -> str:
    t = m["timings"]
    keys = ("build", "prior_predictive", "compile", "sampling", "deterministics",
            "predictive_and_log_densities", "diagnostics")
    return ", ".join(f"{k} {t[k]:.1f}" for k in keys if k in t)


def ess_per_second(seed: int) -> None:
    """nutpie against PyMC's NUTS on the shipped model, same draws, slowest parameter."""
    import arviz as az

    from gpt2030.inference.sampling import SamplerConfig, _sample_posterior
    from gpt2030.models import DEFAULT, build_model
    from gpt2030.observations import Ledger, observation_frame

    model = build_model(observation_frame(Ledger(LEDGER).rows()), DEFAULT)
    names = [rv.name for rv in model.free_RVs]
    rates = {}
    for sampler in ("nutpie", "pymc"):
        timings: dict[str, float] = {}
        config = SamplerConfig(draws=500, tune=500, chains=2, sampler=sampler, thin=1)
        dt = _sample_posterior(model, config, seed, False, timings)
        ess = az.ess(dt["posterior"].to_dataset()[names], method="bulk")
        worst = min(names, key=lambda n: float(np.nanmin(ess[n].values)))
        value = float(np.nanmin(ess[worst].values))
        rates[sampler] = value / timings["sampling"]
        print(f"  {sampler:<7} sampling {timings['sampling']:6.1f} s (compile "
              f"{timings.get('compile', 0):.1f} s apart), slowest bulk ESS {value:.0f} "
              f"({worst}): {rates[sampler]:.1f} ESS/s")
    print(f"nutpie / PyMC NUTS, ESS/s: {rates['nutpie'] / rates['pymc']:.1f}x   "
          "(target >= 2x)")


def rows_scaling(seed: int, one: xr.Dataset, factors: list[int]) -> None:
    """Sampling time with every ledger row repeated ``factor`` times, against the ledger's.

    Each real row gets ``factor - 1`` copies (same term, date, served model, benchmark and
    measurement error; a point value, never a bound; a served model's copy, on its
    template's date, has no predecessor in its series), their values drawn from the model's
    predictive at one posterior draw: data the model could have produced. Each ledger is
    compiled, then sampled with the same shorter settings (2 chains x 1,000 draws after
    1,000 tuning steps, unthinned); the figure is the sampling time, compilation apart,
    relative to the first factor's (1: the ledger itself).
    """
    from gpt2030.inference import over_draws
    from gpt2030.inference.sampling import SamplerConfig, _sample_posterior
    from gpt2030.models import DEFAULT, build_model
    from gpt2030.models.evidence import Hypothetical, prepare_evidence, with_hypothetical
    from gpt2030.observations import Ledger, observation_frame

    frame = observation_frame(Ledger(LEDGER).rows())
    ev = prepare_evidence(frame, DEFAULT.expert_forecasts)
    config = SamplerConfig(draws=1000, tune=1000, chains=2, thin=1)
    base = None
    for factor in factors:
        copies = [Hypothetical(name, f"copy{k}:{obs}", obs, float(meas), float(y))
                  for name, term in ev.terms.items()
                  for obs, meas, y in zip(term.ids, term.array("meas"), term.array("y"),
                                          strict=True)
                  for k in range(1, factor)]
        ev_k = with_hypothetical(ev, copies)
        model = build_model(frame, DEFAULT, evidence=ev_k)
        observed = [rv.name for rv in model.observed_RVs]
        sim = over_draws.predictive(model, one, observed, seed)
        for name in observed:
            term = name.removesuffix("_obs")
            ids = ev_k.term(term).ids
            y = model[f"{term}_y"].get_value().copy()
            is_copy = np.isin(ids, [c.id for c in copies if c.term == term])
            y[is_copy] = sim[name].values[0, 0][is_copy]
            model[f"{term}_y"].set_value(y)
        timings: dict[str, float] = {}
        dt = _sample_posterior(model, config, seed, False, timings)
        diverging = int(dt["sample_stats"]["diverging"].sum())
        base = base or timings["sampling"]
        print(f"  {factor:>3}x rows ({sum(len(t) for t in ev_k.terms.values()):>6}): "
              f"sampling {timings['sampling']:6.1f} s, {timings['sampling'] / base:5.2f}x "
              f"the ledger's (compile {timings['compile']:.0f} s apart), {diverging} "
              "divergences", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The default run's seed (what `make forecast` and `observe add --update` use): the
    # one-row update reweights the warm run only when the settings are the same.
    parser.add_argument("--seed", type=int, default=2030,
                        help="seed of the runs (another than 2030: the one-row update refits)")
    parser.add_argument("--skip-nuts", action="store_true", help="skip nutpie vs PyMC NUTS")
    parser.add_argument("--rows", default="1,10",
                        help="row factors to sample, comma-separated ('' skips; 100 takes "
                        "more than 47 min on 2 cores)")
    args = parser.parse_args()
    seed = str(args.seed)
    print(f"gpt2030 inference benchmark: {sum(1 for _ in open(LEDGER)) - 1} ledger rows, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpt2030-bench-") as tmp:
        root = Path(tmp)
        caches = root / "caches"
        cold_home = new_home(root, "cold")
        cold, out, _ = gpt2030(cold_home, caches, "infer", "--seed", seed)
        m_cold = manifest_of(cold_home, out)
        print(f"infer, cold caches:  {cold:6.1f} s   (target <= 90 s)  [{stages(m_cold)}]",
              flush=True)
        warm_home = new_home(root, "warm")
        warm, out, _ = gpt2030(warm_home, caches, "infer", "--seed", seed)
        m_warm = manifest_of(warm_home, out)
        print(f"infer, warm caches:  {warm:6.1f} s   (target <= 20 s)  [{stages(m_warm)}]"
              f"   warm/cold {warm / cold:.2f}", flush=True)
        a, b = (xr.load_datatree(h / "runs" / m["run_id"] / "run.nc")["posterior"]
                ["compute_growth"].values for h, m in ((cold_home, m_cold), (warm_home, m_warm)))
        print(f"  draws identical, cold vs warm (same seed and settings): "
              f"{np.array_equal(a, b)}", flush=True)
        print("  a full re-infer (infer --force) does the warm run's work: same stages, "
              "same caches", flush=True)

        # As after `make forecast`: the fitted run's report exists (it stores the run's value
        # of information and prior-dominance table, which a reweighted run's report reuses).
        rep, _, _ = gpt2030(warm_home, caches, "report", m_warm["run_id"])
        print(f"report of the fitted run: {rep:6.1f} s", flush=True)
        # observe add --update takes every setting's default (seed 2030, as the warm run).
        # Three times, each in a copy of the home as it is now: one run varies by ~1-2 s
        # with the machine, the median is the figure.
        updates = []
        for i in range(UPDATE_REPEATS):
            home = root / f"update-{i}"
            shutil.copytree(warm_home, home)
            upd, _, err = gpt2030(home, caches, "observe", "add", *ROW, "--update")
            latest = max((p for p in (home / "runs").iterdir() if p.is_dir()),
                         key=lambda p: p.name)
            updates.append((upd, err, json.loads((latest / "manifest.json").read_text())))
        updates.sort(key=lambda u: u[0])
        upd, err, m_upd = updates[len(updates) // 2]
        path = m_upd.get("path", "fitted")
        print(f"one-row update (observe add --update): {upd:6.1f} s   (target <= 10 s) "
              f"median of {', '.join(f'{u[0]:.1f}' for u in updates)} s; path {path}, "
              f"k-hat {m_upd.get('k_hat')}, weight ESS {m_upd.get('weight_ess')}"
              f"; update/warm infer {upd / warm:.2f}", flush=True)
        for line in err.splitlines():
            if line.startswith("gpt2030: ") and " s  (total" in line:
                print("  " + line.removeprefix("gpt2030: "), flush=True)
        # One posterior draw of the warm run: the simulated rows' parameters.
        with xr.open_datatree(warm_home / "runs" / m_warm["run_id"] / "run.nc") as tree:
            one = tree["posterior"].to_dataset().isel(chain=[0], draw=[0]).load()
    if not args.skip_nuts:
        ess_per_second(args.seed)
    if args.rows:
        print("simulated rows (targets: 10x <= 2x, 100x <= 3x the ledger's sampling time):",
              flush=True)
        factors = [int(f) for f in args.rows.split(",")]
        rows_scaling(args.seed, one, factors if factors[0] == 1 else [1, *factors])


if __name__ == "__main__":
    main()
