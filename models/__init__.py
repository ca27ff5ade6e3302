"""The generative model of GPT-2030: priors, evidence terms and the PyMC graph.

The graph (:mod:`gpt2030.models.generative`, which imports PyMC) is loaded on first use of
``build_model`` or ``YEARS``, so that reading the ledger or a stored run's manifest, and
``gpt2030 --help``, never pay for importing PyMC.
"""

from gpt2030.models.priors import CONFIGS, DEFAULT, ESSAY, ModelConfig, Prior, get_config

#: Bump when the graph or the meaning of a variable changes: stored runs of another
#: version are refused rather than misread. It lives here, not in ``generative``, because
#: listing and reading runs compares it without building a model.
MODEL_VERSION = "2.1.0"
#: The first year of the model's grid (``YEARS[0]``), here so that commands about the
#: ledger alone (``observe import``) need not import PyMC.
FIRST_YEAR = 2018

__all__ = [
    "CONFIGS",
    "DEFAULT",
    "ESSAY",
    "FIRST_YEAR",
    "MODEL_VERSION",
    "YEARS",
    "ModelConfig",
    "Prior",
    "build_model",
    "get_config",
]

#: Names that come from the PyMC graph module, imported when first asked for.
_FROM_GENERATIVE = ("YEARS", "build_model")


def __getattr__(name: str) -> object:
    """``YEARS`` and ``build_model``, from :mod:`gpt2030.models.generative` on first use.

    Parameters
    ----------
    name : str
        The attribute asked for.

    Returns
    -------
    object
        The attribute of the graph module.

    Raises
    ------
    AttributeError
        For any other name.
    """
    if name in _FROM_GENERATIVE:
        from gpt2030.models import generative

        return getattr(generative, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
