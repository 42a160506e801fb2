"""The experience model: its text format (target, parser), the one prompt spec shared by training and inference,
reasoning annotators, SFT examples from real trajectories (and, in sibling modules, retrieval, SFT training,
fidelity, inference and the synthetic env). Nothing here names an env: each env's observation, rules and
annotator come from its EnvSpec (dreamgym/envs/<name>/).

    from dreamgym.experience import PromptSpec, build_examples, format_target, parse_target

Importing this package is cheap: no model or heavy library is loaded.
"""

from __future__ import annotations

from dreamgym.experience.annotators import (
    ANNOTATORS,
    HFAnnotator,
    LLMAnnotator,
    annotate_rows,
    clean_reasoning,
    make_annotator,
    register_annotator,
)
from dreamgym.experience.examples import EXAMPLE_COLUMNS, build_examples
from dreamgym.experience.format import SPECIAL_TOKENS, STOP, ParseFailure, Prediction, format_target, parse_target
from dreamgym.experience.prompt import PromptSpec, RetrievalQuery, truncated_done

__all__ = [
    "ANNOTATORS", "EXAMPLE_COLUMNS", "SPECIAL_TOKENS", "STOP", "HFAnnotator", "LLMAnnotator", "ParseFailure",
    "Prediction", "PromptSpec", "RetrievalQuery", "annotate_rows", "build_examples", "clean_reasoning",
    "format_target", "make_annotator", "parse_target", "register_annotator", "truncated_done",
]
