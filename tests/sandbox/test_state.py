"""The sandbox's token table: dead bearers are forgotten, at most once a second."""

from __future__ import annotations

from bridge.sandbox.state import BEARER, SandboxState
from tests.sandbox.conftest import Clock


def test_dead_bearers_are_swept_once_a_second() -> None:
    clock = Clock()
    state = SandboxState(clock)
    short = [state.issue(BEARER, "ann@example.com", 0.5) for _ in range(3)]
    clock.advance(0.6)
    assert all(state.grant(token, BEARER) is None for token in short)
    state.issue(BEARER, "ann@example.com", 60)
    assert len(state._grants) == 4  # within the second: not swept yet
    clock.advance(0.5)
    live = state.issue(BEARER, "ann@example.com", 60)
    assert len(state._grants) == 2  # swept: only the two live ones remain
    assert state.grant(live, BEARER) is not None
