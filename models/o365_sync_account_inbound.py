"""Moved: the pull (subscriptions, delta rounds, page ingestion) is engine/importer.py, and its
fields are on o365.sync.account (models/o365_sync_account.py) (issue 14).

This module name stays, as an alias of engine/importer.py, only while models/__init__.py imports
it and tests/test_pull_delta.py patches its PAGE_SIZE; both should use engine.importer, and then
this file goes.
"""

import sys

from ..engine import importer

sys.modules[__name__] = importer
