"""soap-bridge: serve legacy SOAP APIs on their vendors' modern REST flows."""

__version__ = "0.1.0"
