"""The model's trajectories and observations evaluated at every stored draw at once.

PyMC's ``sample_posterior_predictive``, ``compute_log_likelihood``, ``compute_log_prior``,
``compute_deterministics`` and ``sample_prior_predictive`` call a compiled function once
per draw: for a run's 20,000 draws that loop took ~34 s of every ``infer`` (25 s of it the
predictive) with the compiled code cached, and numba's compilation on top on a cold cache.
Here each is one graph vectorised over a leading draw axis (``vectorize_graph``) and
evaluated in chunks of :data:`CHUNK` draws with NumPy kernels (no compilation to cache or
miss, and no rewrites but one that keeps every node on whole arrays: :func:`_draw_mode`).
The values are PyMC's: the same log-densities to float precision, and predictive draws from
the same distributions (other random numbers: they come from one seeded stream per call).

Custom distributions (``CustomDist`` and PyMC's symbolic ones such as ``ExGaussian``) keep
their random graph inside an ``OpFromGraph`` that cannot be vectorised; their inner graphs
are inlined first (:func:`inline_symbolic`), leaving plain random variables that can.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    import pymc as pm
    from pytensor.graph.basic import Variable

#: Draws per evaluation: bounds the memory of one call (a (CHUNK, rows) array per term).
#: The predictive's random numbers depend on it: keep it fixed for reproducible runs (a last
#: chunk of fewer draws is padded to the graph's batch length, and draws as many numbers).
CHUNK = 2000
#: PyTensor's mode for PyMC's own forward samplers, which call their function once per draw
#: (the value of information's predictive; the prior predictive of a model :func:`prior`
#: cannot draw at once): NumPy kernels, no compilation, and the rewrites that pay for
#: themselves over hundreds of calls (without them the prior predictive's 500 draws took
#: 4.0-5.1 s instead of 3.5-4.4 s).
MODE = "FAST_COMPILE"


def _array_ops():
    """A rewrite of the vectorised graphs' per-draw Python loops into whole-array NumPy ops.

    Without it, some nodes ran Python once per draw or per element. Vectorising wraps an
    op it has no batched form for in a ``Blockwise``, which loops over the draws: a
    ``Deterministic``'s identity (``ViewOp``), a ``Join`` of a batched vector with an
    unbatched one (the walks' leading zero), a per-row assignment ``x[idx] = y`` (the
    censored rows' densities). And a scalar op with no NumPy function runs per element:
    ``softplus`` (the compute ceiling's and the data limit's bends), ``fill`` and a cast to
    float. For a run's 10,000 draws they were ~0.8 s of the 1.0-1.4 s its trajectories
    took and most of its log-likelihood's (cProfile, 2026-11-29). Each becomes the same
    values computed on the whole batch: the identity's input; the join, or the assignment
    at every draw, of the inputs broadcast to the batch; ``zeros + y``; ``x + 0.0``; and
    softplus written stably as ``max(x, 0) + log1p(exp(-|x|))``, equal to PyTensor's own
    to the last bit or two (the run's trajectories moved by <= 3e-14 relative).
    """
    import pytensor.tensor as pt
    from pytensor.compile.ops import ViewOp
    from pytensor.graph.rewriting.basic import in2out, node_rewriter
    from pytensor.scalar.basic import Cast, Second
    from pytensor.scalar.math import Softplus
    from pytensor.tensor.basic import Join
    from pytensor.tensor.blockwise import Blockwise
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.subtensor import AdvancedIncSubtensor

    @node_rewriter(None)
    def whole_batch(fgraph, node):
        op = node.op
        if isinstance(op, Elemwise) and isinstance(op.scalar_op, Softplus):
            (x,) = node.inputs
            return [pt.maximum(x, 0.0) + pt.log1p(pt.exp(-pt.abs(x)))]
        if isinstance(op, Elemwise) and isinstance(op.scalar_op, Second):
            x, y = node.inputs  # y broadcast against x
            return [pt.zeros(tuple(x.shape), dtype=y.dtype) + y]
        if isinstance(op, Elemwise) and isinstance(op.scalar_op, Cast) and \
                op.scalar_op.o_type.dtype.startswith("float"):
            (x,) = node.inputs  # to a float: NumPy's addition casts exactly
            return [x + pt.zeros((), dtype=op.scalar_op.o_type.dtype)]
        if not isinstance(op, Blockwise):
            return None
        if isinstance(op.core_op, ViewOp):
            return list(node.inputs)
        k = op.batch_ndim(node)
        # The static batch length (_batched): a symbolic one, the old node's own shape,
        # would keep that node in the graph.
        batch = node.outputs[0].type.shape[:k]
        if None in batch:
            return None

        def whole(x):
            return pt.broadcast_to(x, (*batch, *tuple(x.shape)[k:]))

        if isinstance(op.core_op, Join):
            return [pt.join(op.core_op.axis + k, *map(whole, node.inputs))]
        core = op.core_op
        if isinstance(core, AdvancedIncSubtensor) and all(
                isinstance(i, int) for i in core.idx_list) and all(
                i.type.shape[:k] == (1,) * k for i in node.inputs[2:]):
            # x[idx] = y (or +=) at every draw, with an index that is the same for all
            x, y, *index = node.inputs
            at = whole(x)[(slice(None),) * k + tuple(i[(0,) * k] for i in index)]
            return [pt.inc_subtensor(at, y, set_instead_of_inc=core.set_instead_of_inc,
                                     ignore_duplicates=core.ignore_duplicates)]
        return None

    return in2out(whole_batch)


def _draw_mode():
    """PyTensor's mode for the graphs over the draws (trajectories, predictive, densities).

    No rewrites but :func:`_array_ops`: each graph is evaluated a few times (once per
    chunk), so FAST_COMPILE's rewriting cost more than it saved. A registration's
    predictive (1,000 draws) and a run's trajectories: the values the same to 1e-13
    (2026-11-28). The log-densities (2026-11-29, the shipped run's 10,000 draws): every
    log-likelihood the same to 1e-13, three priors' log-densities (Gamma) moved by 2e-7
    relative, where both modes differ from SciPy's by ~1e-7 (no stability lost: PyMC
    writes its densities in stable forms); a run's log-likelihood and log-prior 5.6 ->
    3.8-4.2 s, one added row's term 0.9 -> 0.5 s (the served-speed term, unfused, ~0.1 s
    slower).
    """
    from pytensor.compile.mode import Mode

    return Mode(linker="py", optimizer=None).register((_array_ops(), 0))


def _density_mode():
    """:func:`_draw_mode` with the one rewrite a density needs: a parameter check to -inf.

    PyMC's densities check their parameters (``sigma > 0``, ...); its compile turns a failed
    check into -inf with a rewrite that lives among the canonicalising ones, which a mode
    without rewrites leaves out (the check would raise). A check is of a whole chunk's
    batch, so one invalid draw gives -inf for every draw of its chunk, as in FAST_COMPILE:
    stored draws are valid by construction.
    """
    from pymc.logprob.utils import local_check_parameter_to_ninf_switch
    from pytensor.graph.rewriting.basic import in2out

    return _draw_mode().register((in2out(local_check_parameter_to_ninf_switch), -1))


def inline_symbolic(outputs: Sequence[Variable]) -> list[Variable]:
    """``outputs`` with every symbolic random variable replaced by its inner graph.

    Parameters
    ----------
    outputs : sequence of pytensor Variable

    Returns
    -------
    list of pytensor Variable
        The same values, made of plain ``RandomVariable`` nodes, which vectorise.
    """
    from pymc.distributions.distribution import SymbolicRandomVariable
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import toposort

    outputs = list(outputs)
    while True:
        node = next((n for n in toposort(outputs)
                     if isinstance(n.op, SymbolicRandomVariable)), None)
        if node is None:
            return outputs
        inner = node.op.fgraph.bind(list(node.inputs))
        outputs = graph_replace(outputs, dict(zip(node.outputs, inner, strict=True)),
                                strict=False)


def _batch(posterior: xr.Dataset) -> int:
    """Draws per evaluation: :data:`CHUNK`, or every draw when there are fewer."""
    return min(CHUNK, posterior.sizes["chain"] * posterior.sizes["draw"])


def _batched(variables: Sequence[Variable], n: int) -> list[Variable]:
    """Inputs with a leading draw axis of static length ``n``.

    Static, so that vectorising needs no shape inference: over an axis of unknown length,
    every ``Alloc`` and random variable of the vectorised graph had PyTensor infer the
    batch length by rewriting the whole graph above it (for the model's observed
    variables, 0.5-0.6 s of a 0.7-0.9 s vectorisation; 0.26 s with the length known).
    """
    import pytensor.tensor as pt

    return [pt.tensor(name=v.name, dtype=v.dtype, shape=(n, *v.type.shape))
            for v in variables]


def _vectorised(outputs: Sequence[Variable], replace: dict) -> list[Variable]:
    """``outputs`` with a leading draw axis; one that depends on no draw is broadcast."""
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    n = next(iter(replace.values())).shape[0]
    return [new if new.ndim == old.ndim + 1 else pt.broadcast_to(new, (n, *new.shape))
            for old, new in zip(outputs, vectorize_graph(list(outputs), replace=replace),
                                strict=True)]


def _compile(inputs: Sequence[Variable], outputs: Sequence[Variable], posterior: xr.Dataset,
             mode, seed: int | None = None):
    """``outputs`` of the variables ``inputs`` as a function of a batch of their draws."""
    from pymc.pytensorf import compile as compile_fn

    batched = _batched(inputs, _batch(posterior))
    outs = _vectorised(outputs, dict(zip(inputs, batched, strict=True)))
    return compile_fn(batched, outs, random_seed=seed, mode=mode, on_unused_input="ignore")


def _evaluate(fn, names: Sequence[str], posterior: xr.Dataset) -> list[np.ndarray]:
    """``fn`` of the draws of ``names``, chunk by chunk; outputs shaped (chain, draw, ...).

    ``fn`` takes :func:`_batch` draws at a time (:func:`_batched`): a last, shorter chunk
    is padded with its last draw, and the padding's outputs are dropped.
    """
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    total = n_chain * n_draw
    n = _batch(posterior)
    flat = []
    for name in names:
        values = np.asarray(posterior[name].transpose("chain", "draw", ...).values)
        flat.append(values.reshape(total, *values.shape[2:]))
    out: list[np.ndarray] = []
    for start in range(0, total, n):
        chunk = [a[start:start + n] for a in flat]
        kept = len(chunk[0]) if chunk else n
        if kept < n:
            chunk = [np.concatenate([a, np.repeat(a[-1:], n - kept, axis=0)]) for a in chunk]
        got = fn(*chunk)
        if not out:
            out = [np.empty((total, *np.shape(g)[1:]), dtype=np.asarray(g).dtype) for g in got]
        for whole, part in zip(out, got, strict=True):
            whole[start:start + kept] = part[:kept]
    return [a.reshape(n_chain, n_draw, *a.shape[1:]) for a in out]


def _dataset(model: pm.Model, names: Sequence[str], arrays: Sequence[np.ndarray],
             posterior: xr.Dataset) -> xr.Dataset:
    """Named arrays with the model's dims and coords, on the posterior's chain and draw."""
    variables = {}
    for name, values in zip(names, arrays, strict=True):
        dims = list(model.named_vars_to_dims.get(name, ()))
        dims += [f"{name}_dim_{i}" for i in range(len(dims), values.ndim - 2)]
        variables[name] = xr.DataArray(values, dims=["chain", "draw", *dims])
    coords = {d: np.asarray(model.coords[d]) for v in variables.values() for d in v.dims
              if d in model.coords and model.coords[d] is not None}
    coords.update(chain=posterior["chain"].values, draw=posterior["draw"].values)
    return xr.Dataset(variables, coords=coords)


def predictive(model: pm.Model, posterior: xr.Dataset, var_names: Sequence[str],
               seed: int) -> xr.Dataset:
    """Draws of observed variables, one per posterior draw.

    Parameters
    ----------
    model : pymc.Model
    posterior : xarray.Dataset
        The free parameters' draws (constrained values, dims ``chain``, ``draw``, ...).
    var_names : sequence of str
        Observed variables of ``model``.
    seed : int
        Seeds the model's random generators: same inputs and seed, same draws.

    Returns
    -------
    xarray.Dataset
        The posterior predictive: one variable per name, dims (chain, draw, *its dims).
    """
    free = list(model.free_RVs)
    fn = _compile(free, inline_symbolic([model[n] for n in var_names]), posterior,
                  _draw_mode(), seed)
    arrays = _evaluate(fn, [rv.name for rv in free], posterior)
    return _dataset(model, var_names, arrays, posterior)


def prior(model: pm.Model, draws: int, seed: int) -> xr.DataTree:
    """Draws from the model's prior and prior predictive, all at once.

    What PyMC's ``sample_prior_predictive`` returns (groups ``prior``, ``prior_predictive``
    and the data), from one graph: every free parameter drawn ``draws`` times along a
    leading axis (in the model's order, each given its parents' draws), then the
    Deterministics and the observed variables over those draws. PyMC's own calls its
    compiled function once per draw: for the shipped model's 500 draws 4.5 s against 1.4 s
    (2026-11-29; the same distributions: two-sample KS tests of every parameter and
    prediction against PyMC's draws gave as few small p-values as PyMC's against its own).
    A model with a free parameter this cannot draw in one go (a custom distribution, a
    size that its dims do not give) is left to PyMC.

    Parameters
    ----------
    model : pymc.Model
    draws : int
    seed : int
        Seeds the model's random generators: same model and seed, same draws.

    Returns
    -------
    xarray.DataTree
    """
    import pymc as pm
    from pymc.pytensorf import compile as compile_fn
    from pytensor.graph.replace import vectorize_graph
    from pytensor.tensor.random.op import RandomVariable

    batched: dict = {}
    for rv in model.free_RVs:  # parents before children
        new = vectorize_graph(rv, replace=batched) if batched else rv
        if new.ndim == rv.ndim:  # no parent drawn: a root, drawn ``draws`` times here
            core = _shape(model, rv)
            if core is None or not isinstance(rv.owner.op, RandomVariable):
                with model:
                    return pm.sample_prior_predictive(draws=draws, random_seed=seed,
                                                      compile_kwargs={"mode": MODE})
            rng, _, *params = rv.owner.inputs
            new = rv.owner.op.make_node(rng, (draws, *core), *params).outputs[1]
        batched[rv] = new
    free = list(batched)
    derived = [*model.deterministics, *model.observed_RVs]
    outs = [batched[rv] for rv in free]
    if derived:
        outs += vectorize_graph(inline_symbolic(derived), replace=batched)
    values = compile_fn([], outs, random_seed=seed, mode=_draw_mode())()
    names = [v.name for v in [*free, *derived]]
    return pm.to_inference_data(prior=dict(zip(names, values, strict=True)), model=model)


def _shape(model: pm.Model, rv: Variable) -> tuple[int, ...] | None:
    """A variable's shape from its type or its dims' coords; None when neither gives it."""
    if None not in rv.type.shape:
        return tuple(rv.type.shape)
    dims = model.named_vars_to_dims.get(rv.name, ())
    if len(dims) != rv.ndim or any(model.coords.get(d) is None for d in dims):
        return None
    return tuple(len(model.coords[d]) for d in dims)


def deterministics(model: pm.Model, posterior: xr.Dataset) -> xr.Dataset:
    """Every ``Deterministic`` of the model at every draw (the trajectories).

    Parameters
    ----------
    model : pymc.Model
    posterior : xarray.Dataset
        The free parameters' draws.

    Returns
    -------
    xarray.Dataset
        ``posterior`` with one variable more per Deterministic, dims (chain, draw, *its
        dims).
    """
    free = list(model.free_RVs)
    names = [d.name for d in model.deterministics]
    fn = _compile(free, model.deterministics, posterior, _draw_mode())
    arrays = _evaluate(fn, [rv.name for rv in free], posterior)
    return posterior.merge(_dataset(model, names, arrays, posterior))


def log_densities(model: pm.Model, posterior: xr.Dataset, var_names: Sequence[str],
                  ) -> xr.Dataset:
    """The elementwise log-density of observed and free variables at every draw.

    One graph for all of them (``infer`` asks for the log-likelihood and the log-prior
    together): :func:`log_likelihood` and :func:`log_prior` are its two usual selections.

    Parameters
    ----------
    model : pymc.Model
    posterior : xarray.Dataset
        The free parameters' draws.
    var_names : sequence of str
        Observed or free variables of ``model``.

    Returns
    -------
    xarray.Dataset
        One variable per name, dims (chain, draw, *its dims); free variables on the
        constrained scale (no Jacobian), as PyMC's ``compute_log_prior`` gives them.
    """
    import pymc as pm
    from pymc.model.transform.conditioning import remove_value_transforms

    # The stored draws are constrained values: the model without its transforms reads them.
    umodel = remove_value_transforms(model)
    observed = {rv.name for rv in umodel.observed_RVs}
    # An observed variable's density from its own graph (``pm.logp``), not the whole
    # model's (``Model.logp`` derives every variable's, ~1 s, before selecting): one added
    # row's term in ~1/3 of the time; all ten terms at once cost the same either way.
    obs = [n for n in var_names if n in observed]
    logps = dict(zip(obs, umodel.replace_rvs_by_values(
        [pm.logp(umodel[n], umodel.rvs_to_values[umodel[n]]) for n in obs]), strict=True))
    free = [n for n in var_names if n not in observed]
    if free:
        logps.update(zip(free, umodel.logp(vars=[umodel[n] for n in free], sum=False),
                         strict=True))
    values = [umodel.rvs_to_values[rv] for rv in umodel.free_RVs]
    # PyMC's compile, as compute_log_likelihood's: an invalid parameter gives -inf, no error.
    fn = _compile(values, [logps[n] for n in var_names], posterior, _density_mode())
    arrays = _evaluate(fn, [rv.name for rv in umodel.free_RVs], posterior)
    return _dataset(model, var_names, arrays, posterior)


def log_likelihood(model: pm.Model, posterior: xr.Dataset,
                   var_names: Sequence[str] | None = None) -> xr.Dataset:
    """Each observation's log-density at every draw (PyMC's ``log_likelihood`` group).

    Parameters
    ----------
    model : pymc.Model
    posterior : xarray.Dataset
        The free parameters' draws.
    var_names : sequence of str, optional
        Observed variables (default: all).

    Returns
    -------
    xarray.Dataset
        One variable per observed variable, dims (chain, draw, *its dims).
    """
    names = list(var_names) if var_names is not None else [rv.name
                                                          for rv in model.observed_RVs]
    return log_densities(model, posterior, names)


def log_prior(model: pm.Model, posterior: xr.Dataset) -> xr.Dataset:
    """Each free parameter's prior log-density at every draw (PyMC's ``log_prior`` group).

    Parameters
    ----------
    model : pymc.Model
    posterior : xarray.Dataset

    Returns
    -------
    xarray.Dataset
        One variable per free parameter, on the constrained scale (no Jacobian), as PyMC's
        ``compute_log_prior`` gives it.
    """
    return log_densities(model, posterior, [rv.name for rv in model.free_RVs])
