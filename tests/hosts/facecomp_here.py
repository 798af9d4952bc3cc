"""`facecomp` of this checkout (what FACECOMP_EXE points at in a studio): runs engine.cli from the repository
this file is in, whatever the current folder (the farm test runs from a temporary folder)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.cli import main  # noqa: E402

sys.exit(main())
