"""The observation ledger: schema, units, validation and the atomic store."""

from gpt2030.observations.schema import FIELDS, KINDS, STATUSES, decimal_year, validate_row
from gpt2030.observations.store import (
    Ledger,
    LedgerError,
    default_home,
    ledger_path,
    observation_frame,
    observation_hash,
)
from gpt2030.observations.units import DEFAULT_TOKENS_PER_WORD, UNITS, convert, to_base

__all__ = [
    "DEFAULT_TOKENS_PER_WORD",
    "FIELDS",
    "KINDS",
    "STATUSES",
    "UNITS",
    "Ledger",
    "LedgerError",
    "convert",
    "decimal_year",
    "default_home",
    "ledger_path",
    "observation_frame",
    "observation_hash",
    "to_base",
    "validate_row",
]
