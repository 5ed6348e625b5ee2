from . import mail_activity_schedule
from . import o365_sync_start_users
