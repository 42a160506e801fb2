"""Quality gates: Great Expectations suites and gate(), which raises with a readable report."""

from dreamgym.quality.gates import (
    GateReport,
    gate,
    validate_buffer_rows,
    validate_experience_model,
    validate_seed_data,
)

__all__ = ["GateReport", "gate", "validate_buffer_rows", "validate_experience_model", "validate_seed_data"]
