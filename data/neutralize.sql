-- SPEC S8: a neutralized copy of the database (odoo-bin neutralize, a staging build, the
-- database manager's "neutralize") reaches no Microsoft 365 mailbox. Odoo runs this file
-- by its path (odoo/modules/neutralize.py); it is not in the manifest's data.
--
-- Every sign-in, subscription and delta cursor goes, every account stops and is
-- disconnected (the mailbox it had is kept so that reconnecting it keeps its links), and
-- the changes waiting for Outlook are dropped: production sends them itself, and a copy
-- that sent them too would make doubles in real calendars. The subscriptions are
-- forgotten, never deleted: they are production's, and production keeps using them.
UPDATE o365_sync_account
   SET token_cache = NULL,
       subscription_id = NULL,
       subscription_secret = NULL,
       subscription_expires_at = NULL,
       subscription_to_remove = NULL,
       delta_link = NULL,
       delta_window_end = NULL,
       sync_state = 'stopped',
       previous_mailbox_address = COALESCE(mailbox_address, previous_mailbox_address),
       mailbox_address = NULL,
       connection_state = 'disconnected',
       last_error = 'This database is a neutralized copy: Microsoft 365 sync is off.',
       last_error_at = now() at time zone 'UTC';

DELETE FROM o365_push_queue;
DELETE FROM o365_pull_request;

-- The organisation's credentials. The public base URL goes too: it is production's address,
-- and subscriptions pointing there are production's (a copy must never count them as its own
-- strays and delete them).
DELETE FROM ir_config_parameter
 WHERE key IN ('o365_calendar_sync.client_secret',
               'o365_calendar_sync.certificate',
               'o365_calendar_sync.certificate_thumbprint',
               'o365_calendar_sync.public_base_url');

-- The reason Settings and each user's Calendar tab show. Sync starts again only after an
-- administrator saves new settings with a client secret or certificate.
INSERT INTO ir_config_parameter (key, value, create_date, write_date)
VALUES ('o365_calendar_sync.neutralized', '1', now() at time zone 'UTC', now() at time zone 'UTC')
    ON CONFLICT (key) DO UPDATE SET value = '1';
