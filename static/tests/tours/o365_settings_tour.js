/** @odoo-module **/
/*
 * SPEC S1 in a real browser (tests/test_settings.py drives it): Test connection
 * runs on values typed in the settings form but not saved, and lists each check.
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("o365_calendar_sync_settings_unsaved", {
    url: "/odoo/action-o365_calendar_sync.action_o365_config_settings",
    steps: () => [
        {
            content: "The saved secret is never shown, only that one is saved (issue 27)",
            trigger: ".o365_client_secret_saved:contains(A client secret is saved.)",
        },
        {
            content: "Type a wrong client secret, without saving",
            trigger: "div[name=o365_client_secret] input",
            run: "edit not-the-secret",
        },
        {
            content: "Test the typed values",
            trigger: "button.o365_test_connection",
            run: "click",
        },
        {
            content: "The secret's line fails, in plain words",
            trigger: ".o365_connection_failed .o365_check_fail[data-check=client]:contains(client secret is wrong)",
        },
        {
            content: "The other checks pass, each on its own line",
            trigger: ".o365_connection_failed .o365_check_pass[data-check=login] ~ .o365_check_pass[data-check=redirect] ~ .o365_check_pass[data-check=graph]",
        },
        {
            content: "No save dialog, and the typed value is still in the form",
            trigger: "body:not(:has(.modal)) div[name=o365_client_secret] input:value(not-the-secret)",
        },
        {
            content: "The change is still unsaved",
            trigger: ".o_control_panel .o_dirty_warning",
        },
        {
            content: "Type the right secret, still without saving",
            trigger: "div[name=o365_client_secret] input",
            run: "edit odoo-test-secret",
        },
        {
            content: "Test again",
            trigger: "button.o365_test_connection",
            run: "click",
        },
        {
            content: "Every check passes",
            trigger: ".o365_connection_ok:contains(All 5 checks passed)",
        },
        {
            content: "Links to the users' sync health and the push queue",
            trigger: "button[name=action_o365_open_accounts]:contains(Connected Users)",
        },
        {
            content: "The push queue link",
            trigger: "button[name=action_o365_open_push_queue]:contains(Push Queue)",
        },
        {
            content: "Discard the typed changes",
            trigger: ".o_control_panel .o_form_button_cancel",
            run: "click",
        },
        {
            content: "Nothing left unsaved",
            trigger: "body:not(:has(.o_dirty_warning)) div[name=o365_client_secret] input",
        },
    ],
});
