"""Environment switches of three states: ``auto``, on or off.

The package's run-time switches (``SEMSER_LSTM_KERNEL``, ``SEMSER_DEVICE_FEED``) read
their value the same way: empty or ``auto`` leaves the choice to the package, ``1`` /
``on`` / ``true`` / ``yes`` turns the thing on, ``0`` / ``off`` / ``false`` / ``no`` off.
"""

from __future__ import annotations

from semser_tf.errors import ConfigError

__all__ = ["tri_state"]

_ON = ("1", "on", "true", "yes")
_OFF = ("0", "off", "false", "no")


def tri_state(name: str, value: str, expected: str) -> bool | str:
    """``value`` of the switch ``name``: ``"auto"``, ``True`` or ``False``.

    Args:
        name: the variable, named in the error.
        value: its text (case and surrounding spaces ignored).
        expected: what the error says the values mean, after ``expected``.

    Raises:
        ConfigError: any other value, naming the variable, the value and ``expected``.

    Example:
        >>> tri_state("SEMSER_X", " On ", "auto, 1 or 0"), tri_state("SEMSER_X", "", "")
        (True, 'auto')
    """
    v = value.strip().lower()
    if v in ("", "auto"):
        return "auto"
    if v in _ON:
        return True
    if v in _OFF:
        return False
    raise ConfigError(f"{name}={value!r}: expected {expected}")
