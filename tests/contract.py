"""Where the tests find the shared contract (beside the checkout, as in CI), in one place.

`SOAP_BRIDGE_CONTRACT` points at another copy of `shared/contract`; the older
`SOAP_BRIDGE_VECTORS` still points at the vectors alone.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTRACT = Path(os.environ.get("SOAP_BRIDGE_CONTRACT", REPO.parent / "shared" / "contract"))
VECTORS = Path(os.environ.get("SOAP_BRIDGE_VECTORS", CONTRACT / "vectors"))
DOCUMENTNOW_FACTS = CONTRACT / "documentnow-v2" / "types.json"
