"""One mapper per synced entity, both directions side by side (SPEC A1-A15, B2-B10, C1).

``activity``, ``meeting`` and ``leave`` each turn plain values into Graph event JSON
(push) and read a Graph event back into the values Odoo keeps (pull), through the one
reader ``utils.graph_event.GraphEvent``. ``meeting_policy`` holds the rules of which
Outlook events become logged meetings (B2-B7, S3). No ORM: models pass plain values or
records read as plain attributes.
"""

from . import common
from . import activity
from . import meeting
from . import meeting_policy
from . import leave
