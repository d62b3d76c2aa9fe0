"""`python -m gvlbench.native`: build the native guard's library if needed (the Makefile's
`native` target); without a C compiler, a note and exit 0."""

import sys

from gvlbench.native import main

sys.exit(main())
