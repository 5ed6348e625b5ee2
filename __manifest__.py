{
    "name": "Microsoft 365 Calendar Sync",
    "summary": "Two-way sync of activities, meetings and leaves with Outlook calendars",
    "version": "18.0.1.0.0",
    "category": "Productivity/Calendar",
    "author": "o365_calendar_sync authors",
    # pylint-odoo requires a website; this module has no site of its own, so
    # "Learn More" opens Microsoft's page on the calendar API it builds on.
    "website": "https://learn.microsoft.com/en-us/graph/api/resources/calendar-overview",
    "license": "LGPL-3",
    "depends": ["mail", "calendar", "hr_holidays"],
    "external_dependencies": {"python": ["msal", "requests"]},
    "data": [
        "security/o365_security.xml",
        "security/ir.model.access.csv",
        "views/res_config_settings_views.xml",
        "wizard/o365_sync_start_users_views.xml",
        "views/o365_sync_account_views.xml",
        "data/pull_cron_data.xml",
        "views/res_users_views.xml",
        "data/push_cron_data.xml",
        "views/mail_activity_views.xml",
        "views/calendar_event_views.xml",
        "views/hr_leave_views.xml",
        "views/o365_push_queue_views.xml",
        "views/oauth_templates.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "o365_calendar_sync/static/src/settings/*",
            "o365_calendar_sync/static/src/calendar/*",
            "o365_calendar_sync/static/src/health/*",
            "o365_calendar_sync/static/src/activity/*",
        ],
        "web.assets_tests": ["o365_calendar_sync/static/tests/tours/*.js"],
    },
    "application": True,
    "uninstall_hook": "uninstall_hook",
}
