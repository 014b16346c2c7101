"""The Nmbrs emulation assembled: its routes, control routes, call names and reset, for the sandbox app."""

from __future__ import annotations

from ..exchange import Route
from ..state import SandboxState
from . import identity, legacy, rest
from .controls import NmbrsControls
from .grants import Grants
from .seed import NmbrsSeed
from .state import NmbrsState


class NmbrsSandbox:
    """Every Nmbrs endpoint for one seed; times come from the sandbox state's (swappable) clock."""

    def __init__(self, seed: NmbrsSeed, sandbox: SandboxState) -> None:
        self.seed = seed

        def clock() -> float:
            return sandbox.clock()

        self.state = NmbrsState(clock)
        self.grants = Grants(seed.identity, clock)
        self.routes: tuple[Route, ...] = (
            legacy.LegacyApi(seed, sandbox, self.state).routes
            + identity.IdentityService(seed, self.grants).routes
            + rest.RestApi(seed, sandbox, self.state, self.grants).routes
        )
        self.control_routes = NmbrsControls(self.state, self.grants).routes
        self.call_names = legacy.CALL_NAMES + identity.CALL_NAMES + rest.CALL_NAMES

    def reset(self) -> None:
        self.state.reset()
        self.grants.reset()
