"""Quality gates: Great Expectations suites and gate(), which raises with a readable report.

Names resolve lazily (PEP 562): importing the package (e.g. for its `config` module) loads none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamgym.registry import lazy_exports

if TYPE_CHECKING:
    from dreamgym.quality.gates import (
        GateReport,
        gate,
        validate_buffer_rows,
        validate_experience_model,
        validate_seed_data,
        validate_synthetic_batch,
    )

_WHERE = {
    "GateReport": "gates",
    "gate": "gates",
    "validate_buffer_rows": "gates",
    "validate_experience_model": "gates",
    "validate_seed_data": "gates",
    "validate_synthetic_batch": "gates",
}

__all__ = ["GateReport", "gate", "validate_buffer_rows", "validate_experience_model", "validate_seed_data",
           "validate_synthetic_batch"]

__getattr__ = lazy_exports(__name__, _WHERE)
