"""One exception family. The CLI turns any of these into a single line and exit code 2."""


class PrunekitError(Exception):
    """Base of every error a user can cause (bad input, bad names, bad files)."""


class BadInput(PrunekitError):
    """A flag, a data set or an argument that cannot be used as given."""


class PluginError(PrunekitError):
    """An unknown plug-in name, or a plug-in that registered something unusable."""


class CheckpointError(PrunekitError):
    """A checkpoint or plan file that is missing, truncated, tampered with or inconsistent."""


class VerificationError(PrunekitError):
    """A pruned model that does not compute what its plan says it should."""


class TrainingDiverged(PrunekitError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Interrupted(PrunekitError):
    """Ctrl-C (or SIGTERM) during a run: the last checkpoint was saved. Exits 128 + the signal's number."""

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class StopSignal(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: stop as Ctrl-C does (schedulers and ``docker stop`` send SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class WriteError(PrunekitError):
    """A file could not be written (disk full, no permission); nothing already there was replaced."""
