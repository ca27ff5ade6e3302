"""The generative model of GPT-2030: priors, evidence terms and the PyMC graph."""

from gpt2030.models.generative import MODEL_VERSION, YEARS, build_model
from gpt2030.models.priors import CONFIGS, DEFAULT, ESSAY, ModelConfig, Prior, get_config

__all__ = [
    "CONFIGS",
    "DEFAULT",
    "ESSAY",
    "MODEL_VERSION",
    "YEARS",
    "ModelConfig",
    "Prior",
    "build_model",
    "get_config",
]
