"""`python -m bench` runs the comparison benchmark (bench/run.py); `python -m bench.soak` the soak."""

import sys

from bench.run import main

sys.exit(main())
