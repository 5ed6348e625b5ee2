"""Which Outlook events become meetings logged in Odoo (SPEC B2-B7, S3): the pull's rules.

``decide`` answers for an event that has no Odoo record yet: logged, or kept out for one of
the skip reasons (``SKIP_*``; ``STICKY_REASONS`` survive later edits of the event, B4). Its
parts: ``is_removed`` and ``is_cancelled`` (the pull also asks them of linked events),
``participants`` (organiser and attendees, internal or external, B3), the private,
recurring, before-the-sync-start and category rules (B4, B5, S3, B7), and
``page_addresses``, every address of a delta page for the caller's one contact query (B2).

Plain Python over Graph event JSON (as returned by calendarView delta): no ORM. The pull
job gathers what the rules need (organisation domains, the sync start, the category
filter, the contacts matching a page's addresses). What a logged meeting then shows is
``meeting.meeting_values`` (B8).
"""

from dataclasses import dataclass
from datetime import UTC

from ..email_domains import is_internal
from ..graph_event import GraphEvent

# Skip reasons, also used as the stored reason of a sticky exclusion (B4).
SKIP_REMOVED = "removed"
SKIP_CANCELLED = "cancelled"
SKIP_RECURRING = "recurring"
SKIP_BEFORE_START = "before_sync_start"
SKIP_PRIVATE = "private"
SKIP_INTERNAL = "internal_only"
SKIP_NO_CONTACT = "no_matching_contact"
SKIP_CATEGORY = "category"

# Only a skip for one of these reasons survives later edits of the event (B4:
# "private made non-private later: still not logged"). A category or a missing
# contact may change later and the event then gets logged (B7).
STICKY_REASONS = frozenset({SKIP_PRIVATE})

PRIVATE_SENSITIVITIES = frozenset({"private"})


@dataclass(frozen=True)
class Participants:
    """Normalised addresses of an event's organiser and attendees."""

    organizer: str
    attendees: tuple
    internal: tuple
    external: tuple

    @property
    def all(self):
        return tuple(dict.fromkeys(a for a in (self.organizer, *self.attendees) if a))


def participants(event, org_domains):
    """Organiser and attendees of an event, split into internal and external (B3)."""
    outlook = GraphEvent(event)
    organizer, attendees = outlook.organizer, outlook.attendees
    everyone = tuple(dict.fromkeys(a for a in (organizer, *attendees) if a))
    internal = tuple(a for a in everyone if is_internal(a, org_domains))
    external = tuple(a for a in everyone if not is_internal(a, org_domains))
    return Participants(organizer, attendees, internal, external)


def is_removed(event):
    """A delta tombstone: the event was deleted or left the window."""
    return GraphEvent(event).is_removed


def is_cancelled(event):
    return GraphEvent(event).is_cancelled


def is_recurring(event):
    """Series masters, occurrences and exceptions are not synced (B5)."""
    return GraphEvent(event).is_recurring


def is_private(event):
    return GraphEvent(event).sensitivity in PRIVATE_SENSITIVITIES


def created_before(event, moment):
    """True when the event was created before ``moment`` (naive UTC): S3 keeps it out."""
    if not moment:
        return False
    created = GraphEvent(event).created_at
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    # Odoo stores datetimes to the second; an event made in the same second counts as after.
    return created is not None and created < moment.replace(microsecond=0)


def category_allowed(categories, mode, names):
    """B7: 'include' lets only the listed categories in, 'exclude' keeps them out (case-insensitive)."""
    if mode == "all" or not names:
        return True
    wanted = {n.strip().casefold() for n in names if n and n.strip()}
    present = {c.strip().casefold() for c in categories or () if c}
    if mode == "include":
        return bool(wanted & present)
    return not (wanted & present)


def decide(event, *, sync_started_at, org_domains, category_filter, known_contacts):
    """Whether an event without an Odoo record is logged: (True, None) or (False, reason).

    ``category_filter`` is ``(mode, names)`` from the account; ``known_contacts``
    is the set of normalised addresses that match an Odoo contact (looked up once
    per delta page by the caller).
    """
    if is_removed(event):
        return False, SKIP_REMOVED
    if is_cancelled(event):
        return False, SKIP_CANCELLED
    if is_recurring(event):
        return False, SKIP_RECURRING
    if created_before(event, sync_started_at):
        return False, SKIP_BEFORE_START
    if is_private(event):
        return False, SKIP_PRIVATE
    people = participants(event, org_domains)
    if not people.external:
        return False, SKIP_INTERNAL
    if not any(address in known_contacts for address in people.external):
        return False, SKIP_NO_CONTACT
    mode, names = category_filter
    if not category_allowed(event.get("categories"), mode, names):
        return False, SKIP_CATEGORY
    return True, None


def page_addresses(events, org_domains):
    """Every participant address of a page's live events, for one contact query per page (B2)."""
    found = {}
    for event in events:
        if not is_removed(event):
            for address in participants(event, org_domains).all:
                found[address] = True
    return list(found)
