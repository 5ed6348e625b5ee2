/** @odoo-module **/
/*
 * SPEC A10, A14, S4 in a real browser (tests/test_tour_meetings.py drives them and
 * checks Outlook's side in the emulator between the tours):
 * - a meeting logged from Outlook, opened in Odoo, offers no Confirm;
 * - a meeting made in Odoo with a customer is saved and confirmed;
 * - Stop then Start from Preferences, then an old task is edited from the chatter.
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("o365_outlook_meeting_has_no_confirm", {
    steps: () => [
        {
            content: "The meeting says it was booked in Outlook",
            trigger: ".o_form_view .o365_outlook_owned_note:contains(Booked in Outlook)",
        },
        {
            content: "No Confirm on a meeting Outlook owns (A10)",
            trigger: ".o_form_view div[name=name]",
            run() {
                if (document.querySelector("button[name=action_o365_confirm]")) {
                    throw new Error("Confirm is offered on a meeting logged from Outlook");
                }
            },
        },
    ],
});

registry.category("web_tour.tours").add("o365_confirm_meeting_with_customer", {
    steps: () => [
        {
            content: "Name the meeting",
            trigger: ".o_form_view div[name=name] input",
            run: "edit Renewal talk",
        },
        {
            content: "Invite the customer",
            trigger: ".o_form_view div[name=partner_ids] input",
            run: "edit Carol",
        },
        {
            content: "Pick Carol Client",
            trigger: ".o-autocomplete--dropdown-item:contains(Carol Client)",
            run: "click",
        },
        {
            content: "Carol is an attendee",
            trigger: ".o_form_view div[name=partner_ids]:contains(Carol Client)",
        },
        {
            content: "Save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            // Shown once the meeting is saved: only meetings made in Odoo have it (A10).
            content: "Confirm: the organiser's Outlook invites the attendees",
            trigger: ".o_form_view button[name=action_o365_confirm]",
            run: "click",
        },
        {
            content: "The meeting shows as confirmed",
            trigger: ".o_form_view .o365_confirmed_badge:contains(Confirmed)",
        },
    ],
});

// Started on the full-page Preferences (where Connect lands, /odoo/microsoft-365-preferences).
registry.category("web_tour.tours").add("o365_stop_then_start", {
    steps: () => [
        {
            content: "Open the Calendar tab",
            trigger: "a[role=tab]:contains(Calendar)",
            run: "click",
        },
        {
            content: "Stop Syncing",
            trigger: "button[name=action_o365_stop_sync]",
            run: "click",
        },
        {
            content: "Stopped",
            trigger: ".o365_health_state:contains(Stopped)",
        },
        {
            content: "The tab says what stopping means",
            trigger: ".o365_calendar_stopped_notice",
        },
        {
            content: "Start Syncing again",
            trigger: "button[name=action_o365_start_sync]",
            run: "click",
        },
        {
            content: "Running again",
            trigger: ".o365_health_state:contains(Syncing)",
        },
    ],
});

registry.category("web_tour.tours").add("o365_edit_old_task", {
    steps: () => [
        {
            content: "The task pushed before the restart is in the contact's chatter",
            trigger: ".o-mail-Activity:contains(Call back Carol) .o-mail-Activity-edit",
            run: "click",
        },
        {
            content: "Change its summary",
            trigger: ".modal div[name=summary] input",
            run: "edit Call back Carol about the renewal",
        },
        {
            content: "Save the task",
            trigger: ".modal footer button:contains(Save)",
            run: "click",
        },
        {
            content: "The chatter shows the new summary",
            trigger: ".o-mail-Activity:contains(Call back Carol about the renewal)",
        },
    ],
});
