"""Inference: sampling, the run store, diagnostics and forecasts from stored runs."""
