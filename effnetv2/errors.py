"""Exception types: each failure a user can cause has its own type and a one-line message."""


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


class UnsupportedDtypeError(EffNetV2Error, ValueError):
    """A precision that is unknown or cannot run on the requested device."""


class DeviceError(EffNetV2Error, ValueError):
    """A device that this machine does not have."""
