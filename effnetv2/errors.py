"""Exception types: each failure a user can cause has its own type and a one-line message."""

import numbers


class EffNetV2Error(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownModelError(EffNetV2Error, ValueError):
    """A model name that is not registered."""


class BlocksError(EffNetV2Error, ValueError):
    """A ``blocks`` string of the wrong length or with letters other than F and M."""


class WeightsError(EffNetV2Error):
    """Weights that cannot be loaded."""


class WeightsMismatchError(WeightsError, ValueError):
    """A state dict whose keys or shapes do not fit the architecture."""


class CorruptWeightsError(WeightsError):
    """A weights file that is truncated, corrupt or not safetensors."""


class EmbeddedWeightsError(WeightsError):
    """The package that holds an embedded checkpoint is not installed, lacks the file, or the file's sha256 is not
    the pinned one (altered, or another version): nothing was read; the message says what to install."""


class UnknownCheckpointError(EffNetV2Error, ValueError):
    """A pretrained checkpoint name that is not in the registry."""


class HubError(EffNetV2Error, OSError):
    """The Hugging Face Hub answered, but not with the file asked for (repo, revision or file missing)."""


class HubUnavailableError(HubError):
    """The Hub cannot be reached (or offline mode is on) and the file is not in the local cache."""


class ImageError(EffNetV2Error, ValueError):
    """An image that cannot be read: missing, empty, truncated, not an image, or too large."""


class UnsupportedDtypeError(EffNetV2Error, ValueError):
    """A precision that is unknown or cannot run on the requested device."""


class DeviceError(EffNetV2Error, ValueError):
    """A device that this machine does not have."""


class BoundsError(EffNetV2Error, ValueError):
    """A request value outside what the app accepts (top-k, runs, batch, image size, preset ...)."""


class StageError(EffNetV2Error, ValueError):
    """A stage name that the model does not have (Grad-CAM targets, timing rows)."""


class MemoryLimitError(EffNetV2Error, MemoryError):
    """A setting that needs more memory than the device has free (too large a batch or image)."""

    def __init__(self, message: str, setting: str = ""):
        super().__init__(message)
        self.setting = setting
        """What ran out (e.g. ``training batch 4 at 448 px on cpu``), for a front end that words the advice."""


class BackendError(EffNetV2Error, RuntimeError):
    """An inference backend (ONNX Runtime, OpenVINO) that is unknown, not installed, or cannot run the model."""


class BackendCacheError(BackendError):
    """A cached exported model (an ONNX file under the cache folder) that cannot be read: truncated or corrupt."""


class TimeLimitError(EffNetV2Error, ValueError):
    """A request whose estimated run time exceeds what this server allows one request (``EFFNETV2_MAX_REQUEST_S``)."""


class RequestError(EffNetV2Error, ValueError):
    """A request value of the wrong type or shape (a string for a number, a path for an upload, too few values)."""


SHORT = 60
"""Characters of a user's value that a message quotes; the rest is counted, not echoed."""


def shorten(value: object, limit: int = SHORT) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length said: a 10,000-character name must not
    make a 10,000-character error line."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters as text"
    return f"{text[: limit - 1]}… ({size})"


def describe(value: object) -> str:
    """What a value is, in words a client understands: ``the string '1e3'``, ``a list``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, numbers.Real):
        return f"the number {shorten(value)}"
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered.startswith(("http://", "https://", "ftp://")):
            return "a URL"
        if lowered.startswith("data:"):
            return "a data: URI"
        if value.startswith(("/", "~", "\\")) or (value[:1].isalpha() and value[1:3] in (":/", ":\\")):
            return "a file path"
        return f"the string {shorten(value)}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class AbandonedError(EffNetV2Error):
    """Work stopped at a run or step boundary because whoever asked for it went away (``effnetv2.cancel``)."""


class MethodError(EffNetV2Error, ValueError):
    """An explanation method that is not one of ``effnetv2.explain.METHODS``, or one asked for at a stage it cannot
    explain (a CAM at the input)."""
