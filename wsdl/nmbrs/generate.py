"""Write wsdl/nmbrs/<Service>.wsdl for Nmbrs' SOAP API v3 from the sandbox's contract.

The sandbox emulates the services from the same data (bridge/sandbox/nmbrs/contract.py), and
serves the same documents at `/soap/v3/<Service>.asmx?WSDL` with its own address; the files
here carry the production address, which the bridge rewrites to its own when serving.

    python wsdl/nmbrs/generate.py           # rewrite the four WSDLs
    python wsdl/nmbrs/generate.py --check   # exit 1 if a checked-in file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from bridge.sandbox.nmbrs.contract import SERVICES  # noqa: E402
from bridge.sandbox.nmbrs.wsdl import render  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, service in SERVICES.items():
        path = HERE / f"{name}.wsdl"
        data = render(service)
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path)
            continue
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes)")
    for path in stale:
        print(f"generate: {path} is stale; run python wsdl/nmbrs/generate.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
