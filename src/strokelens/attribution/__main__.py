"""``python -m strokelens.attribution --write`` (or ``--check``): the methods' ``catalogue.json``."""

import sys

from strokelens.attribution.catalogue import main

sys.exit(main())
