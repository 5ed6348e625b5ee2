/** @odoo-module **/
/*
 * SPEC S1-S3 in a real browser (tests/test_tour.py drives them):
 * an administrator fills and tests the settings; a user connects from Preferences
 * (through the emulator's consent page), then starts and stops syncing.
 */
import { registry } from "@web/core/registry";

const SETTINGS_KEY = "o365_calendar_sync_tour_settings";

function settingsValues() {
    // Written by the test before the tour starts; sessionStorage survives page reloads.
    return JSON.parse(window.sessionStorage.getItem(SETTINGS_KEY) || "{}");
}

function editField(name, value) {
    return {
        content: `Fill in ${name}`,
        trigger: `div[name=${name}] input`,
        run: `edit ${value}`,
    };
}

function screenshot(name, selector) {
    // The test's browser captures the element when it reads this console line.
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

registry.category("web_tour.tours").add("o365_calendar_sync_settings", {
    url: "/odoo/action-o365_calendar_sync.action_o365_config_settings",
    steps: () => {
        const values = settingsValues();
        return [
            {
                content: "The Microsoft 365 block is there",
                trigger: "div[name=o365_client_id] input",
            },
            editField("o365_client_id", values.client_id),
            editField("o365_client_secret", values.client_secret),
            editField("o365_tenant", values.tenant),
            editField("o365_public_base_url", values.public_base_url),
            editField("o365_login_endpoint", values.login_endpoint),
            editField("o365_graph_endpoint", values.graph_endpoint),
            editField("o365_ca_bundle", values.ca_bundle),
            editField("o365_org_domains", values.org_domains),
            {
                content: "Save the settings (the page reloads)",
                trigger: ".o_control_panel .o_form_button_save",
                run(helpers) {
                    document.body.classList.add("o365-before-save");
                    return helpers.click();
                },
            },
            {
                content: "Saved: the redirect URI to register is shown",
                trigger: `body:not(.o365-before-save) div[name=o365_redirect_uri]:contains(${values.public_base_url}/o365_calendar_sync/oauth/callback)`,
            },
            {
                content: "Saved values came back",
                trigger: `div[name=o365_client_id] input:value(${values.client_id})`,
            },
            {
                content: "Test the saved settings",
                trigger: "button[name=action_o365_test_connection]",
                run: "click",
            },
            {
                content: "Every check passes",
                trigger: ".o_notification:contains(Client ID and secret are accepted):contains(is registered)",
            },
            screenshot("settings", "div.app_settings_block[data-key=o365_calendar_sync]"),
        ];
    },
});

registry.category("web_tour.tours").add("o365_calendar_sync_connect", {
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
            content: "Not connected yet",
            trigger: "button[name=action_o365_connect]",
            run: "click",
        },
        // The browser is now on Microsoft's (the emulator's) consent page, which the
        // test accepts, and comes back to the Preferences.
        {
            content: "Back in Odoo, the connected mailbox is shown",
            trigger: ".o365_mailbox_address:contains(@contoso.example)",
        },
        {
            content: "Disconnect is offered",
            trigger: "button[name=action_o365_disconnect]",
        },
        {
            content: "Connected, and told plainly that sync is not running yet (S4)",
            trigger: ".o365_sync_stopped_notice:contains(Sync is not running)",
        },
        {
            content: "Start is offered right there",
            trigger: ".o365_sync_stopped_notice button[name=action_o365_start_sync]",
        },
        {
            content: "Open the Calendar tab",
            trigger: "a[role=tab]:contains(Calendar)",
            run: "click",
        },
        {
            content: "Exclude a category",
            trigger: "div[name=o365_exclude_categories] input",
            run: "edit Personal, personal",
        },
        {
            content: "Start Syncing",
            trigger: "button[name=action_o365_start_sync]",
            run: "click",
        },
        {
            content: "The status shows the sync running, since when",
            trigger: ".o365_health_state:contains(Syncing)",
            // Under the test server the webhook handshake waits for the emulator's timeout.
            timeout: 40000,
        },
        {
            content: "The category list was cleaned",
            trigger: "div[name=o365_exclude_categories] input:value(Personal)",
        },
        screenshot("preferences_calendar", "div.o_notebook"),
        {
            content: "Stop Syncing",
            trigger: "button[name=action_o365_stop_sync]",
            run: "click",
        },
        {
            content: "The status shows the sync stopped",
            trigger: ".o365_health_state:contains(Stopped)",
        },
        {
            content: "Start is offered again",
            trigger: "button[name=action_o365_start_sync]",
        },
    ],
});
