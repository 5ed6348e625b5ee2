"""Former home of the leave mapping, kept only so existing imports work.

Import from ``utils.mappers.leave`` instead; this module goes once nothing imports it.
"""

from .mappers.leave import leave_event_payload, leave_subject

__all__ = ["leave_event_payload", "leave_subject"]
