import logging

_logger = logging.getLogger(__name__)


def uninstall_hook(env):
    """Uninstall: delete the module's Graph subscriptions (best effort, bounded in time), so that
    Graph stops notifying an endpoint that is about to disappear. Nothing in Outlook is deleted."""
    removed = env["o365.sync.account"]._remove_subscriptions_on_uninstall()
    _logger.info("o365: %s Graph subscription(s) removed on uninstall", removed)
