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
    class WithFactory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, NotFrozen, WithFactory, WithPostInit):
        with pytest.raises(TypeError):
            quick_init(cls)


def test_quick_init_keeps_plain_defaults() -> None:
    @dataclass(frozen=True, slots=True)
    class Plain:
        a: int
        b: str | None = None
        c: int = 7

    @quick_init
    @dataclass(frozen=True, slots=True)
    class Quick:
        a: int
        b: str | None = None
        c: int = 7

    for args, kwargs in (((1,), {}), ((1, "x"), {}), ((1,), {"c": 9}), ((), {"a": 2, "b": "y", "c": 3})):
        got, want = Quick(*args, **kwargs), Plain(*args, **kwargs)
        assert (got.a, got.b, got.c) == (want.a, want.b, want.c)
    with pytest.raises(TypeError):
        Quick()
    with pytest.raises(dataclasses.FrozenInstanceError):
        Quick(1).c = 2  # type: ignore[misc]
