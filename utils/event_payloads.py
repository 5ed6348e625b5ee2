"""Former home of the event mapping, kept only so existing imports work.

Import from ``utils.mappers.activity``, ``utils.mappers.meeting`` and
``utils.graph_event`` instead; this module goes once nothing imports it.
"""

from .graph_event import bound_date as parse_graph_day
from .graph_event import to_utc as parse_graph_time
from .mappers.activity import Contact, activity_event
from .mappers.meeting import (
    Attendee,
    MeetingData,
    attendee_answers,
    meeting_attendees_change,
    meeting_event,
    meeting_subject,
    online_meeting_url,
    outlook_meeting_changes,
)
from .mappers.meeting import attendee_addresses as event_attendee_emails
from .mappers.meeting import location_text as event_location

__all__ = [
    "Attendee",
    "Contact",
    "MeetingData",
    "activity_event",
    "attendee_answers",
    "event_attendee_emails",
    "event_location",
    "meeting_attendees_change",
    "meeting_event",
    "meeting_subject",
    "online_meeting_url",
    "outlook_meeting_changes",
    "parse_graph_day",
    "parse_graph_time",
]
