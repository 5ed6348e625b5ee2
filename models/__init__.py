from . import o365_config
from . import o365_event_link
from . import o365_sync_account
from . import o365_sync_account_inbound
from . import o365_pull_request
from . import o365_event_exclusion
from . import calendar_event_inbound
from . import res_config_settings
from . import res_users
from . import o365_push_queue
from . import mail_activity
from . import calendar_event
from . import res_partner
from . import hr_leave
from . import o365_sync_health

# Last: it filters what the meeting push above queues (SPEC S6).
from . import microsoft_calendar_guard
