"""Project-wide exception types. Each carries a one-line, actionable message (the CLI prints it as is)."""


class DreamGymError(Exception):
    """Base class: an error a user can fix from its message alone."""


class UnknownNameError(DreamGymError, KeyError):
    """A name (env, split, policy, ...) that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(DreamGymError, ValueError):
    """params.yaml or an override holds a value the config rejects."""


class GateError(DreamGymError):
    """A quality gate rejected data; `report` holds the readable report."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}
