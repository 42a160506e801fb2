"""Environments: one package per env (`dreamgym/envs/<name>/`) behind one registered EnvSpec, and the TextEnv
interface every env speaks, real or synthetic."""

from dreamgym.envs.base import EnvSpec, StepResult, TextEnv
from dreamgym.envs.registry import env_names, get_spec, make_env, register_env

__all__ = ["EnvSpec", "StepResult", "TextEnv", "env_names", "get_spec", "make_env", "register_env"]
