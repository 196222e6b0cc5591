"""``pos.frozen.quick_init``: the faster ``__init__`` of the rows, tokens and envelopes parsed
by the thousand must build exactly what the dataclass's own ``__init__`` builds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from pos.cose import Sign1
from pos.frozen import quick_init
from pos.tokens import Token
from pos.wire.protocol import BatchRow


def _plain_init(cls: type) -> Any:
    """The dataclass's own ``__init__`` for ``cls``'s fields, on a twin class."""
    twin = dataclass(frozen=True, slots=True)(type(cls.__name__, (), {"__annotations__": {
        f.name: Any for f in dataclasses.fields(cls)}}))  # fmt: skip
    return twin


@pytest.mark.parametrize("cls", [BatchRow, Token, Sign1])
def test_quick_init_sets_every_field_and_the_instance_stays_frozen(cls: type) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    values = [f"value-{n}".encode() for n in names]
    got = cls(*values)
    by_name = cls(**dict(zip(names, values, strict=True)))
    want = _plain_init(cls)(*values)
    assert [getattr(got, n) for n in names] == [getattr(want, n) for n in names] == values
    assert got == by_name and hash(got) == hash(by_name)
    assert repr(got).split("(", 1)[1] == repr(want).split("(", 1)[1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(got, names[0], b"other")
    with pytest.raises(TypeError):
        cls(*values[:-1])
    with pytest.raises(TypeError):
        cls(*values, b"one too many")


def test_quick_init_refuses_what_it_could_not_build_the_same() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithDefault:
        a: int = 1

    @dataclass(frozen=True, slots=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, NotFrozen, WithDefault, WithPostInit):
        with pytest.raises(TypeError):
            quick_init(cls)
