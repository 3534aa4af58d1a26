"""``python -m bot`` runs what is configured; ``python -m bot console`` the terminal chat."""

import sys

from bot.app import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
