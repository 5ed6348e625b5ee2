/** @odoo-module **/
/*
 * Issue 15, SPEC S3, S7 in a real browser (tests/test_tour_health.py drives them): a salesperson
 * schedules a call on a customer and, once the push job ran, sees it "On Outlook"; a failed push
 * shows plain words and Retry on the activity; an administrator stops a user's sync from the
 * health view. The tours start on the page the test opens.
 */
import { registry } from "@web/core/registry";

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

registry.category("web_tour.tours").add("o365_schedule_call", {
    steps: () => [
        {
            content: "Open Schedule Activity from the customer's chatter",
            trigger: ".o-mail-Chatter-topbar button:contains(Activities)",
            run: "click",
        },
        {
            content: "Pick the Call type",
            trigger: ".modal div[name=activity_type_id] input",
            run: "edit Call",
        },
        {
            content: "Choose Call",
            trigger: ".o-autocomplete--dropdown-item a:contains(Call)",
            run: "click",
        },
        {
            content: "Start and End are there, where activities are scheduled",
            trigger: ".modal div[name=o365_start] input",
        },
        {
            content: "Say what the call is about",
            trigger: ".modal div[name=summary] input",
            run: "edit Discuss the offer",
        },
        {
            content: "Schedule it",
            trigger: ".modal button[name=action_schedule_activities]",
            run: "click",
        },
        {
            content: "The call is on the customer",
            trigger: ".o-mail-Activity:contains(Discuss the offer)",
        },
    ],
});

registry.category("web_tour.tours").add("o365_activity_on_outlook", {
    steps: () => [
        {
            content: "The activity says it is on Outlook",
            trigger: ".o365_sync_badge .o365_badge_synced:contains(On Outlook)",
        },
        screenshot("activity_on_outlook", ".o_form_sheet"),
    ],
});

registry.category("web_tour.tours").add("o365_failed_push_retry", {
    steps: () => [
        {
            content: "The failure is in plain words",
            trigger: ".o365_badge_failed:contains(Failed)",
        },
        {
            content: "…saying what happened and what to do",
            trigger: ".o365_sync_message:contains(Outlook refused the event's content)",
        },
        screenshot("activity_failed", ".o_form_sheet"),
        {
            content: "Retry",
            trigger: "button.o365_retry",
            run: "click",
        },
        {
            content: "It waits to go out again",
            trigger: ".o365_badge_waiting:contains(Waiting)",
        },
    ],
});

registry.category("web_tour.tours").add("o365_admin_health", {
    steps: () => [
        {
            content: "The health view lists the user, syncing",
            trigger: ".o_data_row:contains(Tom Tour) [name=health_state]:contains(Syncing)",
        },
        screenshot("health_view", ".o_list_table"),
        {
            content: "Stop that user's sync",
            trigger: ".o_data_row:contains(Tom Tour) button.o365_admin_stop",
            run: "click",
        },
        {
            content: "The user's sync is stopped",
            trigger: ".o_data_row:contains(Tom Tour) [name=health_state]:contains(Stopped)",
        },
    ],
});

registry.category("web_tour.tours").add("o365_calendar_indicator", {
    steps: () => [
        {
            content: "The Calendar app says the sync runs, with a link to the preferences",
            trigger: "a.o365_sync_indicator.o365_sync_syncing:contains(Microsoft 365: syncing)",
        },
        screenshot("calendar_indicator", ".o_calendar_container .o_calendar_header, .o_calendar_container"),
    ],
});
