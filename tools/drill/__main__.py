"""``python -m tools.drill``: see tools/drill/run.py."""

import sys

from tools.drill.run import main

sys.exit(main())
