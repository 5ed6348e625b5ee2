/** @odoo-module **/
/*
 * Issue 23 in a real browser (tests/test_tour_ui.py drives them): the administrator pauses and
 * resumes all sync from Connected Users; a leave shows where it stands with Outlook; the Calendar
 * tab shows one state with the one button that fixes it; a Teams meeting booked in Outlook can be
 * joined from Odoo; an activity's chatter line says it is on Outlook. The tours start on the page
 * the test opens.
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("o365_ui_pause_all", {
    steps: () => [
        {
            content: "Connected Users offers Pause, not Resume",
            trigger: ".o_control_panel button.o365_pause_all",
        },
        {
            content: "…and no Resume while nothing is paused",
            trigger: ".o_control_panel:not(:has(button.o365_resume_all))",
        },
        {
            content: "Pause all sync",
            trigger: ".o_control_panel button.o365_pause_all",
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "Every syncing user is paused",
            trigger: ".o_data_row:contains(Tom Tour) [name=health_state]:contains(Paused for everyone)",
        },
        {
            content: "Now Resume is offered, and Pause is not",
            trigger: ".o_control_panel:not(:has(button.o365_pause_all)) button.o365_resume_all",
        },
    ],
});

registry.category("web_tour.tours").add("o365_ui_resume_all", {
    steps: () => [
        {
            content: "Resume all sync",
            trigger: ".o_control_panel button.o365_resume_all",
            run: "click",
        },
        {
            content: "The user syncs again",
            trigger: ".o_data_row:contains(Tom Tour) [name=health_state]:contains(Syncing)",
        },
        {
            content: "Pause is offered again",
            trigger: ".o_control_panel:not(:has(button.o365_resume_all)) button.o365_pause_all",
        },
    ],
});

registry.category("web_tour.tours").add("o365_ui_leave_badge", {
    steps: () => [
        {
            content: "The leave says it is on Outlook",
            trigger: ".o365_sync_badge .o365_badge_synced:contains(On Outlook)",
        },
    ],
});

registry.category("web_tour.tours").add("o365_ui_reconnect_tab", {
    steps: () => [
        {
            content: "Open the user menu",
            trigger: ".o_user_menu .dropdown-toggle",
            run: "click",
        },
        {
            content: "Open My Profile",
            trigger: ".dropdown-item:contains(My Profile)",
            run: "click",
        },
        {
            content: "Open the Calendar tab",
            trigger: "a[role=tab]:contains(Calendar)",
            run: "click",
        },
        {
            content: "One state: Reconnect needed",
            trigger: ".o365_health_state:contains(Reconnect needed)",
        },
        {
            content: "…with Reconnect, the one button that fixes it",
            trigger: ".o365_reconnect_needed button[name=action_o365_connect]:contains(Reconnect)",
        },
        {
            content: "No second state, no Stop Syncing beside it, no 'Connect on the Preferences tab'",
            trigger:
                ".o_notebook:not(:has(.o365_sync_state)):not(:has(button[name=action_o365_stop_sync])):not(:contains(Preferences tab first))",
        },
    ],
});

registry.category("web_tour.tours").add("o365_ui_syncing_tab", {
    steps: () => [
        {
            content: "Open the user menu",
            trigger: ".o_user_menu .dropdown-toggle",
            run: "click",
        },
        {
            content: "Open My Profile",
            trigger: ".dropdown-item:contains(My Profile)",
            run: "click",
        },
        {
            content: "Open the Calendar tab",
            trigger: "a[role=tab]:contains(Calendar)",
            run: "click",
        },
        {
            content: "One state: Syncing, with Stop Syncing beside it",
            trigger: ".o365_state_line:has(.o365_health_state:contains(Syncing)) button[name=action_o365_stop_sync]",
        },
        {
            content: "Said once: no second 'Sync: Running' row",
            trigger: ".o_notebook:not(:has(.o365_sync_state)):not(:has(button[name=action_o365_start_sync]))",
        },
    ],
});

registry.category("web_tour.tours").add("o365_ui_teams_link", {
    steps: () => [
        {
            content: "The meeting booked in Outlook has its Teams join link",
            trigger: "div[name=videocall_location]",
            run() {
                const field = document.querySelector("div[name=videocall_location]");
                const link = field.querySelector("input")?.value || field.textContent;
                if (!link.includes("https://teams.microsoft.com/l/meetup-join/")) {
                    throw new Error(`No Teams join link in the Videocall URL: ${link}`);
                }
            },
        },
        {
            content: "…and a colleague can join from Odoo",
            trigger: "button[name=action_join_video_call]",
        },
    ],
});

registry.category("web_tour.tours").add("o365_ui_chatter_badge", {
    steps: () => [
        {
            content: "The activity's chatter line says it is on Outlook",
            trigger: ".o-mail-Activity:contains(Chatter call) .o365_chatter_badge.o365_chatter_synced:contains(On Outlook)",
        },
    ],
});
