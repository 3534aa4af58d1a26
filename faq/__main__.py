"""``python -m faq``: the content editors' command line (see faq.cli)."""

from faq.cli import main

raise SystemExit(main())
