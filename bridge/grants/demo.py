"""Demo mode's Nmbrs credentials: put in the environment from the sandbox's Nmbrs seed, so a demo
configuration names them like any secret (`{env: SOAP_BRIDGE_DEMO_NMBRS_CLIENT_SECRET}`)."""

from __future__ import annotations

import os

CLIENT_SECRET_ENV = "SOAP_BRIDGE_DEMO_NMBRS_CLIENT_SECRET"  # noqa: S105 (a variable name)
SUBSCRIPTION_KEY_ENV = "SOAP_BRIDGE_DEMO_NMBRS_SUBSCRIPTION_KEY"
SECONDARY_KEY_ENV = "SOAP_BRIDGE_DEMO_NMBRS_SUBSCRIPTION_KEY_2"


def export_demo_secrets() -> None:
    """Set the three variables from the bundled Nmbrs seed (demo credentials only)."""
    from bridge.sandbox.nmbrs import load_nmbrs_seed

    seed = load_nmbrs_seed(None)
    if seed.identity.clients:
        os.environ[CLIENT_SECRET_ENV] = seed.identity.clients[0].client_secret
    keys = seed.subscription_keys
    os.environ[SUBSCRIPTION_KEY_ENV] = keys[0]
    if len(keys) > 1:
        os.environ[SECONDARY_KEY_ENV] = keys[1]
