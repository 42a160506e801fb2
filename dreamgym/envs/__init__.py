"""Real environments behind one TextEnv interface, and a name registry."""

from dreamgym.envs.base import StepResult, TextEnv
from dreamgym.envs.registry import env_names, make_env, register_env

__all__ = ["StepResult", "TextEnv", "env_names", "make_env", "register_env"]
