from . import cron
