from . import o365_sync_start_users
