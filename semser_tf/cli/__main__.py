"""``python -m semser_tf.cli``: the ``semser`` command."""

import sys

from semser_tf.cli import main

sys.exit(main())
