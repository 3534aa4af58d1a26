"""``python -m faq``: the content editors' command line (see faq.cli)."""

import os
import sys

from faq.cli import main
from faq.unanswered import database_feedback, database_unanswered

try:
    code = main(unanswered_provider=database_unanswered, feedback_provider=database_feedback)
    sys.stdout.flush()
except BrokenPipeError:
    # The reader went away (``python -m faq list | head``); stop quietly like other CLI tools.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
raise SystemExit(code)
