"""The experience model: text formats (abstract states, prompt, target, parser), reasoning annotators, SFT
examples from real trajectories (and, in sibling modules, SFT training, inference and the synthetic env).

    from dreamgym.experience import abstract_state, build_prompt, format_target, parse_target, build_examples

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
from dreamgym.experience.examples import (
    CONTEXT_RULES,
    build_examples,
    context_determined,
    register_context_rule,
)
from dreamgym.experience.format import (
    SPECIAL_TOKENS,
    STATE_ABSTRACTIONS,
    STOP,
    ParseFailure,
    Prediction,
    abstract_state,
    build_prompt,
    format_target,
    parse_target,
    register_state_abstraction,
    task_context,
)

__all__ = [
    "ANNOTATORS", "CONTEXT_RULES", "SPECIAL_TOKENS", "STATE_ABSTRACTIONS", "STOP", "HFAnnotator", "LLMAnnotator",
    "ParseFailure", "Prediction", "abstract_state", "annotate_rows", "build_examples", "build_prompt",
    "clean_reasoning", "context_determined", "format_target", "make_annotator", "parse_target",
    "register_annotator", "register_context_rule", "register_state_abstraction", "task_context",
]
