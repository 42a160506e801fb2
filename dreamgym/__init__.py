"""DreamGym: train LLM agents with RL on synthetic experience from a reasoning experience model."""

__version__ = "0.1.0"
