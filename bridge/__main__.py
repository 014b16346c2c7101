"""`python -m bridge` is `soap-bridge`."""

import sys

from bridge.cli import main

sys.exit(main())
