"""``python -m tools.classifier train|evaluate``: see ``tools.classifier.cli``."""

import sys

from tools.classifier.cli import main

sys.exit(main())
