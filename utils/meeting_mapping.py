"""Former home of the inbound meeting mapping, kept only so existing imports work.

Import from ``utils.mappers.meeting`` and ``utils.graph_event`` instead; this module
goes once nothing imports it.
"""

from .graph_event import unreadable
from .mappers.meeting import Directory, event_times, meeting_values

__all__ = ["Directory", "event_times", "meeting_values", "unreadable"]
