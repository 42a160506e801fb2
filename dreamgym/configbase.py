"""The shared base of every config model: dreamgym/config.py's sections and each package's config.py.

Simplifications: one behaviour for every section: unknown keys are errors, assigned values are validated.
Use: `class MySection(StrictConfig): ...` in a package's config.py, which imports only pydantic, this module
and other config modules, so dreamgym/config.py can compose the sections without an import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictConfig(BaseModel):
    """A config section: an unknown key fails validation (extra="forbid") and so does a bad assigned value."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
