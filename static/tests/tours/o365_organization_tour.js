/** @odoo-module **/
/*
 * SPEC O1 (and S1 for its Test connection) in a real browser (tests/test_tour_organization.py
 * drives them): an administrator switches to the organisation-wide connection, grants admin
 * consent on Microsoft's (the emulator's) page and tests the connection; a user who never signs
 * in starts syncing from Preferences, then schedules a To-Do on a customer (the test runs the
 * push job and finds it in the user's Outlook).
 */
import { registry } from "@web/core/registry";

// The module's page in Settings; the screenshot is its first block (Azure Application).
const SETTINGS = "div.app_settings_block[data-key=o365_calendar_sync]";

function screenshot(name, selector) {
    // The test's browser captures the element when it reads this console line (O365_SCREENSHOTS=1).
    return {
        content: `Screenshot ${name}`,
        trigger: selector,
        async run() {
            const element = document.querySelector(selector);
            element.scrollIntoView({ block: "start" });
            await new Promise((resolve) => setTimeout(resolve, 300));
            const rect = element.getBoundingClientRect();
            console.log(
                `o365-screenshot:${name}:${JSON.stringify({
                    x: rect.x + window.scrollX,
                    y: rect.y + window.scrollY,
                    width: rect.width,
                    height: rect.height,
                })}`
            );
            await new Promise((resolve) => setTimeout(resolve, 1000));
        },
    };
}

registry.category("web_tour.tours").add("o365_organization_settings", {
    url: "/odoo/action-o365_calendar_sync.action_o365_config_settings",
    steps: () => [
        {
            content: "Each user signs in, for now: no admin consent to grant",
            trigger: "div[name=o365_connection_mode] input[data-value=user]:checked",
        },
        {
            content: "Connect the whole organisation instead",
            trigger: "div[name=o365_connection_mode] label:contains(The whole organisation, connected once by an administrator)",
            run: "click",
        },
        {
            content: "Admin consent is asked for, not granted yet",
            trigger: ".o365_admin_consent:contains(Not granted from Odoo yet)",
        },
        {
            content: "The change is not saved yet",
            trigger: ".o_control_panel .o_form_button_save",
        },
        {
            // Issue 23: one press saves the page and goes on to Microsoft's page (no "save your
            // changes?" stop that only saved).
            content: "Grant admin consent, unsaved",
            trigger: "button.o365_grant_admin_consent",
            run(helpers) {
                document.body.classList.add("o365-before-consent");
                return helpers.click();
            },
        },
        // The browser is now on Microsoft's (the emulator's) admin consent page, where the test's
        // browser picks the administrator's account and accepts; Microsoft sends it back here.
        {
            content: "Back in the settings, the consent is granted",
            trigger: "body:not(.o365-before-consent) .o365_admin_consent:contains(Granted on)",
            timeout: 20000,
        },
        {
            content: "Test the connection",
            trigger: "button.o365_test_connection",
            run: "click",
        },
        {
            content: "The application's permissions are granted",
            trigger: ".o365_connection_ok .o365_check_pass[data-check=permissions]:contains(Application permissions)",
        },
        {
            content: "It reads the administrator's mailbox",
            trigger: ".o365_connection_ok .o365_check_pass[data-check=mailbox]:contains(Reading a mailbox)",
        },
        {
            content: "Every check passes",
            trigger: ".o365_connection_ok:contains(All 7 checks passed):not(:has(.o365_check_fail, .o365_check_skip))",
        },
        {
            content: "Dismiss the notifications",
            trigger: ".o_notification:contains(All 7 checks passed)",
            run() {
                document.querySelectorAll(".o_notification .o_notification_close").forEach((b) => b.click());
            },
        },
        {
            content: "The check list stays on the page",
            trigger: "body:not(:has(.o_notification)) .o365_connection_ok",
        },
        screenshot("settings_organization", `${SETTINGS} .o_settings_container`),
    ],
});

registry.category("web_tour.tours").add("o365_organization_start_sync", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open the user menu",
            trigger: ".o_user_menu .dropdown-toggle",
            run: "click",
        },
        {
            content: "Open Preferences",
            trigger: "[data-menu=settings]",
            run: "click",
        },
        {
            content: "The organisation connects the mailbox: no sign-in",
            trigger: ".o365_organization_notice:contains(Your organisation connects your Microsoft 365 mailbox)",
        },
        {
            content: "No Connect button",
            trigger: "body:not(:has(button.o365_connect)) .o365_organization_notice",
        },
        {
            content: "Start Syncing",
            trigger: "button.o365_start_sync_organization",
            run: "click",
        },
        {
            content: "Started: the Preferences dialog closes",
            trigger: "body:not(:has(.modal)) .o_user_menu .dropdown-toggle",
            // Under the test server the webhook handshake waits for the emulator's timeout.
            timeout: 40000,
            run: "click",
        },
        {
            content: "Open Preferences again",
            trigger: "[data-menu=settings]",
            run: "click",
        },
        {
            content: "Sync is running, no sign-in was asked",
            trigger: ".modal .o365_sync_running_notice:contains(Sync is running)",
        },
        {
            content: "Open the Calendar tab",
            trigger: ".modal a[role=tab]:contains(Calendar)",
            run: "click",
        },
        {
            content: "The tab says which mailbox",
            trigger: ".o365_calendar_mailbox:contains(dana_org@contoso.example)",
        },
        {
            content: "... and that the organisation connected it",
            trigger: ".o365_connected_by:contains(Your organisation)",
        },
        {
            content: "The status shows the sync running",
            trigger: ".o365_health_state:contains(Syncing)",
        },
        screenshot("preferences_organization", ".modal div.o_notebook"),
    ],
});

registry.category("web_tour.tours").add("o365_organization_todo", {
    steps: () => [
        {
            content: "Open Schedule Activity from the customer's chatter",
            trigger: ".o-mail-Chatter-topbar button:contains(Activities)",
            run: "click",
        },
        {
            content: "Pick the To-Do type",
            trigger: ".modal div[name=activity_type_id] input",
            run: "edit To-Do",
        },
        {
            content: "Choose To-Do",
            trigger: ".o-autocomplete--dropdown-item a:contains(To-Do)",
            run: "click",
        },
        {
            content: "Say what to do",
            trigger: ".modal div[name=summary] input",
            run: "edit Send the price list",
        },
        {
            content: "Schedule it",
            trigger: ".modal button[name=action_schedule_activities]",
            run: "click",
        },
        {
            content: "The To-Do is on the customer",
            trigger: ".o-mail-Activity:contains(Send the price list)",
        },
    ],
});
