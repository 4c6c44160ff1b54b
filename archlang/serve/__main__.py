"""python -m archlang.serve [SPEC] [--port 8000]"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
