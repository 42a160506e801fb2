"""The experience model: its text format (target, parser), the one prompt spec shared by training and inference,
reasoning annotators, SFT examples from real trajectories (and, in sibling modules, retrieval, SFT training,
fidelity, inference and the synthetic env). Nothing here names an env: each env's observation, rules and
annotator come from its EnvSpec (dreamgym/envs/<name>/).

    from dreamgym.experience import PromptSpec, build_examples, format_target, parse_target

Importing this package is cheap: names resolve lazily (PEP 562), so neither pandas nor a model library loads
until a name is used (`dreamgym.experience.config` is read by the config on every command).
"""

from __future__ import annotations

from dreamgym.registry import lazy_exports

_WHERE = {
    "ANNOTATORS": "annotators",
    "HFAnnotator": "annotators",
    "LLMAnnotator": "annotators",
    "annotate_rows": "annotators",
    "clean_reasoning": "annotators",
    "make_annotator": "annotators",
    "register_annotator": "annotators",
    "EXAMPLE_COLUMNS": "examples",
    "build_examples": "examples",
    "ParseFailure": "format",
    "Prediction": "format",
    "SPECIAL_TOKENS": "format",
    "STOP": "format",
    "format_target": "format",
    "parse_target": "format",
    "PromptSpec": "prompt",
    "RetrievalQuery": "prompt",
    "truncated_done": "prompt",
}

__all__ = [
    "ANNOTATORS",
    "EXAMPLE_COLUMNS",
    "SPECIAL_TOKENS",
    "STOP",
    "HFAnnotator",
    "LLMAnnotator",
    "ParseFailure",
    "Prediction",
    "PromptSpec",
    "RetrievalQuery",
    "annotate_rows",
    "build_examples",
    "clean_reasoning",
    "format_target",
    "make_annotator",
    "parse_target",
    "register_annotator",
    "truncated_done",
]

__getattr__ = lazy_exports(__name__, _WHERE)
