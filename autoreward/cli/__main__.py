"""`python -m autoreward.cli`: the same as the `autoreward` command."""

import sys

from autoreward.cli import main

sys.exit(main())
