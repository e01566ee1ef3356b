"""The errors energan raises for bad input; the CLI prints each as one line."""


class EnerganError(Exception):
    """Base class: a user-facing problem with a one-line explanation."""


class ConfigError(EnerganError, ValueError):
    """A bad configuration value, parameter or component name."""


class PluginError(EnerganError):
    """A plugin failed to load or registered something invalid."""


class RegistrationError(PluginError):
    """A plugin registered an invalid component (bad name, factory or parameters): it is skipped."""


class DataError(EnerganError):
    """Training data is missing or malformed."""


class CheckpointError(EnerganError):
    """A checkpoint or run directory is missing, corrupt or incompatible."""


class DivergenceError(EnerganError):
    """A loss became NaN or infinite during training."""


class MissingExtraError(EnerganError):
    """An optional part of energan is used without the extra that installs it."""
