"""Diagnostics of a run: can the sampler be trusted, and does the model fit its data?

Every threshold is named here, once, with its source. :func:`check` returns a structured
report whose ``verdict`` gates ``gpt2030 diagnose``'s exit status.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import arviz as az
import numpy as np
import xarray as xr

#: Vehtari et al. 2021 ("Rank-normalization, folding, and localization"): R-hat <= 1.01.
RHAT_MAX = 1.01
#: Vehtari et al. 2021: bulk and tail ESS of at least 100 per chain; 400 for 4 chains.
ESS_MIN = 400
#: Any divergent transition means the sampler missed part of the posterior (Betancourt 2017).
DIVERGENCES_MAX = 0
#: Betancourt 2016: E-BFMI below 0.3 signals poor exploration of the energy distribution.
EBFMI_MIN = 0.3
#: Share of draws at the maximum tree depth above which the sampler was struggling.
TREEDEPTH_SHARE_MAX = 0.01


@dataclass(frozen=True)
class Check:
    """One named check, its measured value, its threshold and whether it passed."""

    name: str
    value: float
    threshold: str
    passed: bool
    detail: str = ""


@dataclass
class DiagnosticReport:
    """All checks of a run; ``verdict`` is ``pass`` only when every check passed."""

    checks: list[Check] = field(default_factory=list)
    prior_only: bool = False

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return "pass" if self.ok else "fail"

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form (stored in the run's manifest)."""
        return {
            "verdict": self.verdict,
            "prior_only": self.prior_only,
            "checks": [
                {"name": c.name, "value": _finite(c.value), "threshold": c.threshold,
                 "passed": c.passed, "detail": c.detail}
                for c in self.checks
            ],
        }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def free_parameters(dt: xr.DataTree) -> list[str]:
    """Names of the sampled (free) parameters: posterior variables that have log-priors."""
    if "log_prior" in dt.children:
        return [v for v in dt["log_prior"].data_vars if v in dt["posterior"].data_vars]
    return list(dt["posterior"].data_vars)


def sampler_checks(dt: xr.DataTree) -> list[Check]:
    """Convergence and sampler-health checks on the free parameters."""
    post = dt["posterior"].to_dataset()[free_parameters(dt)]
    rhat = az.rhat(post)
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")

    def worst(ds: xr.Dataset, fn) -> tuple[float, str]:
        vals = {name: float(fn(ds[name].values)) for name in ds.data_vars}
        name = (max if fn is np.nanmax else min)(vals, key=vals.get)
        return vals[name], name

    checks = []
    value, name = worst(rhat, np.nanmax)
    checks.append(Check("r_hat", value, f"<= {RHAT_MAX}", value <= RHAT_MAX, f"worst: {name}"))
    for label, ds in (("ess_bulk", ess_bulk), ("ess_tail", ess_tail)):
        value, name = worst(ds, np.nanmin)
        checks.append(Check(label, value, f">= {ESS_MIN}", value >= ESS_MIN, f"worst: {name}"))
    stats = dt["sample_stats"]
    divergent = stats["diverging"] if "diverging" in stats else stats.get("divergences")
    n_div = int(np.asarray(divergent).sum()) if divergent is not None else 0
    checks.append(Check("divergences", n_div, f"<= {DIVERGENCES_MAX}", n_div <= DIVERGENCES_MAX))
    if "energy" in stats:
        energy = np.asarray(stats["energy"].values)
        bfmi = np.square(np.diff(energy, axis=1)).mean(axis=1) / energy.var(axis=1)
        checks.append(Check("e_bfmi", float(bfmi.min()), f">= {EBFMI_MIN}",
                            bool(bfmi.min() >= EBFMI_MIN), "lowest chain"))
    return checks


def check(dt: xr.DataTree) -> DiagnosticReport:
    """Run every diagnostic that applies to this run."""
    if "posterior" not in dt.children:
        return DiagnosticReport(prior_only=True)
    return DiagnosticReport(checks=sampler_checks(dt))
