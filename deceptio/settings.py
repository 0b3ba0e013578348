"""Frozen dataclasses of settings that check every field once, on construction.

A settings class derives from :class:`Settings`, is decorated with
``@dataclass(frozen=True)`` and declares each field's range next to it with
:func:`setting`::

    @dataclass(frozen=True)
    class TrainConfig(Settings):
        epochs: int = setting(12, ge=1)
        learning_rate: float = setting(3e-3, gt=0)  # peak of a one-cycle schedule

        def _check(self) -> None:  # rules that involve more than one field
            ...

The field's annotation is its type: ``int`` (an integral number, never a
bool), ``float`` (a finite real; ints are stored as float), ``str``, ``bool``,
or ``tuple[int, ...]`` / ``tuple[int, int]`` (a list or tuple, stored as a
tuple). Values are stored as plain Python numbers, so that :meth:`to_dict`
stays JSON-ready. A value of the wrong type or out of range raises
:class:`~deceptio.errors.ParameterError` naming class, field and value, e.g.
``TrainConfig.epochs=8.5 must be an integer >= 1``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import operator
import typing
from typing import Any, Mapping

from deceptio.errors import ParameterError

__all__ = ["Settings", "setting", "check_setting", "positive_int"]

_BOUNDS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="), "lt": (operator.lt, "<")}
_NOUNS = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings"), bool: ("True or False", "booleans")}
_COUNTS = {2: "two", 3: "three", 4: "four"}


def setting(default: Any, *, ge: Any = None, gt: Any = None, le: Any = None, lt: Any = None, choices: tuple | None = None):
    """A dataclass field with its default and the values it accepts.

    ``ge``/``gt`` and ``le``/``lt`` bound the value (each item of a tuple)
    from below and above; ``choices`` lists the only values allowed.
    """
    bounds = {name: bound for name, bound in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if bound is not None}
    return dataclasses.field(default=default, metadata={"bounds": bounds, "choices": choices})


@functools.cache
def _declared(cls: type) -> dict[str, tuple[Any, dict, tuple | None]]:
    """Field name to (type, bounds, choices), the annotations resolved once per class."""
    hints = typing.get_type_hints(cls)
    return {
        field.name: (hints[field.name], field.metadata.get("bounds", {}), field.metadata.get("choices"))
        for field in dataclasses.fields(cls)
    }


def _convert(hint: Any, value: Any) -> Any:
    """``value`` as the type ``hint`` names, or None if it is not one (no setting is ever None)."""
    if hint is bool or hint is str:
        return value if isinstance(value, hint) else None
    if isinstance(value, bool):  # True is an int to Python, never a number to a setting
        return None
    if hint is int:
        return int(value) if isinstance(value, numbers.Integral) else None
    if hint is float:
        try:
            number = float(value) if isinstance(value, numbers.Real) else math.nan
        except OverflowError:  # an int beyond float range
            number = math.inf
        return number if math.isfinite(number) else None
    if typing.get_origin(hint) is tuple:
        item, *rest = typing.get_args(hint)
        if not isinstance(value, (list, tuple)) or (rest != [Ellipsis] and len(value) != 1 + len(rest)):
            return None
        items = tuple(_convert(item, x) for x in value)
        return None if any(x is None for x in items) else items
    raise TypeError(f"settings of type {hint} are not supported")


def _in_range(value: Any, bounds: dict, choices: tuple | None) -> bool:
    if choices is not None and value not in choices:
        return False
    items = value if isinstance(value, tuple) else (value,)
    return all(_BOUNDS[name][0](x, bound) for name, bound in bounds.items() for x in items)


def _rule(hint: Any, bounds: dict, choices: tuple | None) -> str:
    """What a field accepts, in words: "an integer >= 1", "a number in [0, 1)", "four integers >= 1"."""
    if choices is not None:
        return f"one of {choices}"
    if typing.get_origin(hint) is tuple:
        item, *rest = typing.get_args(hint)
        plural = _NOUNS[item][1]
        noun = f"a sequence of {plural}" if rest == [Ellipsis] else f"{_COUNTS.get(1 + len(rest), 1 + len(rest))} {plural}"
    else:
        noun = _NOUNS[hint][0]
    lower = [(name, bound) for name, bound in bounds.items() if name in ("ge", "gt")]
    upper = [(name, bound) for name, bound in bounds.items() if name in ("le", "lt")]
    if lower and upper:
        (low, a), (high, b) = lower[0], upper[0]
        return f"{noun} in {'[' if low == 'ge' else '('}{a}, {b}{']' if high == 'le' else ')'}"
    return " ".join([noun, *(f"{_BOUNDS[name][1]} {bound}" for name, bound in bounds.items())])


def positive_int(name: str, value: object) -> int:
    """``value`` as an int after checking it is an integer > 0 (bools refused), for a function's argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ParameterError(f"{name}={value!r} must be an integer > 0")
    return int(value)


def check_setting(cls: type, name: str, value: Any, *, label: str | None = None) -> Any:
    """``value`` checked, and converted, as field ``name`` of the settings class ``cls`` would be.

    Lets a function that takes a setting as an argument check it by the
    field's rules; the error names it ``label`` (default ``Class.name``).

    Raises
    ------
    ParameterError
        If ``value`` has the wrong type or is out of the field's range.
    """
    hint, bounds, choices = _declared(cls)[name]
    converted = _convert(hint, value)
    if converted is None or not _in_range(converted, bounds, choices):
        raise ParameterError(f"{label or f'{cls.__name__}.{name}'}={value!r} must be {_rule(hint, bounds, choices)}")
    return converted


class Settings:
    """Base of the frozen settings dataclasses: checks fields on construction, converts to and from dicts.

    Raises
    ------
    ParameterError
        On construction, naming class, field and value, if a field has the
        wrong type, is out of its range or breaks a rule of :meth:`_check`.
    """

    def __post_init__(self) -> None:
        for name in _declared(type(self)):
            object.__setattr__(self, name, check_setting(type(self), name, getattr(self, name)))
        self._check()

    def _check(self) -> None:
        """Rules that involve more than one field; subclasses raise through :meth:`_require`."""

    def _require(self, name: str, ok: bool, rule: str) -> None:
        """Raise, naming class, field ``name`` and its value, unless ``ok``."""
        if not ok:
            raise ParameterError(f"{type(self).__name__}.{name}={getattr(self, name)!r} must be {rule}")

    # Fields added after cards and cache keys were first written: left out of to_dict() while at their
    # default, so that what was written before they existed (which behaved as the default does) still matches.
    _LATER: typing.ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict, field name to value, in field order (later fields only when set)."""
        values = dataclasses.asdict(self)
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        for name in self._LATER:
            if values[name] == defaults[name]:
                del values[name]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """Rebuild settings from :meth:`to_dict` output; missing keys take their defaults.

        Raises
        ------
        ParameterError
            If ``values`` is not a mapping, has keys that are not fields (a
            card written by another version), naming them, or holds an
            invalid value.
        """
        if not isinstance(values, Mapping):
            raise ParameterError(f"{cls.__name__} settings must be a mapping of names to values, not {type(values).__name__}")
        known = list(_declared(cls))
        unknown = sorted(map(str, set(values) - set(known)))
        if unknown:
            raise ParameterError(f"unknown {cls.__name__} keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)
