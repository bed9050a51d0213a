"""The project's few exception types.

Third-party errors are translated into these where they enter the project
(``raise WeightsError(...) from err``), so callers handle one family and every
message fits on one line.
"""


class SapnetError(Exception):
    """Base class of every error this package raises on purpose."""


class WeightsError(SapnetError):
    """A weights file is missing, unreadable, or does not fit the network."""


class BackendError(SapnetError):
    """A backend is unknown, unavailable here, or used before it was loaded."""


class ImageFormatError(SapnetError):
    """An image or message cannot be converted (encoding, size, truncated data).

    Args:
        message: one line naming what is wrong, with the numbers.
        problem: the class of problem without the numbers ("encoding", "size",
            "over max_pixels", ...): a node throttles its warnings per topic
            and problem, so frames of ever new sizes cannot flood the log.
    """

    def __init__(self, message: str, problem: str = "invalid image") -> None:
        super().__init__(message)
        self.problem = problem


class BagError(SapnetError):
    """A bag is missing, corrupt, or lacks the topic asked for."""


class OutputExistsError(SapnetError):
    """A tool was asked to write over one of its own inputs."""


class DetectorError(SapnetError):
    """A detector is unknown, or its model cannot be loaded or read."""


class ConfigError(SapnetError):
    """A training configuration has an unknown key or a value of the wrong type or range."""


class DataError(SapnetError):
    """A paired data folder is missing, unpaired, or holds unreadable or mismatched images."""


class TrainingError(SapnetError):
    """Training cannot go on (a non-finite loss, a checkpoint that does not fit)."""


class OutputError(SapnetError):
    """An output location cannot be created or written (checked before any work is done)."""


class InputError(SapnetError):
    """An input named on the command line cannot be read at all (a symlink loop, a folder where a file goes)."""
