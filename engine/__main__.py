"""`python -m engine` is the `facecomp` command."""

import sys

from engine.cli import main

sys.exit(main())
