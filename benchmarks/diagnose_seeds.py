"""Does the sampler's verdict hold whatever the seed? ``gpt2030 diagnose``'s sampler checks
on the shipped ledger for many seeds, printed as a table (issue #12: seeds 1-10 must pass).

Run: ``.venv/bin/python benchmarks/diagnose_seeds.py [--seeds 1-10]``. The model is built
once; each seed then compiles (a cache hit after the first) and samples exactly as
``gpt2030 infer --seed N`` does (same default sampler settings, same nutpie call), so the
draws, and R-hat,
ESS, divergences, tree depth and E-BFMI, are those ``diagnose`` judges for that run. Only the
sampler checks are computed here: the predictive-coverage checks do not depend on the seed
beyond Monte Carlo error. Exit 1 if any seed fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gpt2030.inference.diagnostics import sampler_checks
from gpt2030.inference.sampling import SamplerConfig, _sample_posterior
from gpt2030.models import build_model, get_config
from gpt2030.models.evidence import prepare_evidence
from gpt2030.observations.store import Ledger, observation_frame

LEDGER = Path(__file__).resolve().parents[1] / "observations" / "ledger.csv"


def seeds_from(text: str) -> list[int]:
    """``"1-10"`` or ``"1,4,7"`` as a list of seeds."""
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",")]


def main() -> int:
    """Sample every seed, print each one's checks; 0 if all pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10", help="e.g. 1-10 or 1,4,7")
    args = parser.parse_args()
    config = get_config("default")
    frame = observation_frame(Ledger(LEDGER).rows())
    model = build_model(frame, config, evidence=prepare_evidence(frame, config.expert_forecasts))
    sampler = SamplerConfig()
    print(f"sampler: {sampler.describe()}", flush=True)
    failed = []
    for seed in seeds_from(args.seeds):
        timings: dict[str, float] = {}
        start = time.perf_counter()
        dt = _sample_posterior(model, sampler, seed, False, timings)
        # Judge the free parameters only, as diagnose does (the posterior also holds the
        # Deterministics, some constant by construction, e.g. a walk at its anchor).
        free = [rv.name for rv in model.free_RVs]
        dt["posterior"] = dt["posterior"].to_dataset()[free]
        checks = sampler_checks(dt)
        ok = all(c.passed for c in checks)
        failed += [] if ok else [seed]
        cells = "  ".join(f"{c.name}={c.value:.4g}" + ("" if c.passed else "(FAIL)")
                          for c in checks)
        print(f"seed {seed:>3}: {'pass' if ok else 'FAIL'}  {cells}  "
              f"[{time.perf_counter() - start:.0f} s]", flush=True)
    print("all seeds pass" if not failed else f"failing seeds: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
