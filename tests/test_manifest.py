"""The run store owns the manifest's schema: what ``infer`` stores of the model, read back."""

from __future__ import annotations

import json
from pathlib import Path

from fixture_runs import FIXTURES

from gpt2030.inference.reporting import report_context
from gpt2030.inference.runs import (
    CONSTANTS,
    Manifest,
    Run,
    describe_config,
    model_constants,
)
from gpt2030.models import CONFIGS, get_config
from gpt2030.models import priors as priors_module


def test_each_prior_is_stored_with_its_source_and_the_key_ignores_it() -> None:
    for name in CONFIGS:
        config = get_config(name)
        stored = describe_config(config)
        assert set(stored["priors"]) == set(config.priors)
        for prior, spec in stored["priors"].items():
            assert spec["source"] == config.priors[prior].source and spec["source"].strip()
            assert {k: v for k, v in spec.items() if k != "source"} == \
                config.describe()["priors"][prior]
        assert {k: v for k, v in stored.items() if k != "priors"} == \
            {k: v for k, v in config.describe().items() if k != "priors"}
        json.dumps(stored)  # storable as it is
    # infer keys a run on config.describe(), which holds no sources: rewording a source
    # never makes a new computation.
    assert "source" not in json.dumps(get_config("default").describe())


def test_constants_are_stored_with_the_comment_that_cites_them() -> None:
    stored = model_constants()
    assert [c["name"] for c in stored] == list(CONSTANTS)
    for c in stored:
        assert c["value"] == getattr(priors_module, c["name"])
        assert len(c["note"]) > 20, c  # the `#:` comment above it in models/priors.py
    assert "Kaplan" in next(c["note"] for c in stored if c["name"] == "FLOP_PER_PARAM_TOKEN")
    json.dumps(stored)


def manifest(**changes: object) -> dict:
    base = json.loads(next(FIXTURES.glob("*/manifest.json")).read_text())
    base["config"] = {k: v for k, v in base["config"].items()}
    base["config"]["priors"] = {k: {"dist": v["dist"], "params": v["params"]}
                                for k, v in base["config"]["priors"].items()}
    base.pop("constants", None)
    return {**base, **changes}


def test_a_new_run_reports_its_own_priors_and_constants() -> None:
    """The report reads what the run stored, not today's models/priors.py."""
    old = manifest()
    priors = {k: {**v, "source": f"stored source of {k}"}
              for k, v in old["config"]["priors"].items()}
    constants = [{**c, "value": 7.0, "note": "stored note"} for c in model_constants()]
    new = {**old, "config": {**old["config"], "priors": priors}, "constants": constants}
    ctx = report_context(Run(Path("/nonexistent"), new))
    assert ctx.from_today == ()
    assert {p.source for p in ctx.priors} == {f"stored source of {k}" for k in priors}
    assert [(c.name, c.value, c.note) for c in ctx.constants] == \
        [(name, 7.0, "stored note") for name in CONSTANTS]
    assert Manifest.from_dict(new).constants == constants


def test_a_run_made_before_sources_and_constants_were_stored_still_reads() -> None:
    old = manifest()
    m = Manifest.from_dict(old)
    assert m.constants is None and all("source" not in p for p in m.priors.values())
    ctx = report_context(Run(Path("/nonexistent"), old))
    assert set(ctx.from_today) == {"prior sources", "constants"}  # marked as today's
    assert [c.name for c in ctx.constants] == list(CONSTANTS)
    assert all(p.source for p in ctx.priors if p.name in priors_module.DEFAULT_PRIORS)


def test_infer_stores_sources_and_constants(home: Path, monkeypatch) -> None:
    """End to end through ``infer`` (sampling replaced by a stored run's prior draws)."""
    import xarray as xr
    from fixture_runs import SMALL

    from gpt2030.inference.infer import InferRequest, infer
    from gpt2030.inference.runs import RUN_FILE
    from gpt2030.observations import Ledger, ledger_path

    def fake_fit(model, sampler, seed, **kwargs):
        full = xr.load_datatree(FIXTURES / SMALL / RUN_FILE)
        return xr.DataTree.from_dict({g: full[g].to_dataset()
                                      for g in ("prior", "prior_predictive")}), {}

    monkeypatch.setattr("gpt2030.inference.infer.fit", fake_fit)
    run, reused = infer(Ledger(ledger_path()), home / "runs",
                        InferRequest(prior_only=True, seed=3))
    stored = json.loads((run.path / "manifest.json").read_text())
    assert not reused and stored["constants"] == model_constants()
    assert stored["config"] == describe_config(get_config("default"))
    assert report_context(run).from_today == ()
