"""Argument checks shared by the layers: errors name the argument and the expected form."""

from __future__ import annotations

import numbers


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_positive_int_tuple(name, values):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence of positive integers, got {values!r}.")
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must not be empty.")
    return tuple(check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(values))


def check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)
