/** @odoo-module **/
/*
 * SPEC A16 in a real browser (tests/test_tour_recurrence.py drives them and checks Outlook's
 * side, and what the customer received, in the emulator between the tours):
 * - a weekly meeting with a customer is made in Odoo's calendar form and confirmed;
 * - one occurrence is changed with "This event";
 * - a later one with "This and following events".
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("o365_recurring_meeting_confirm", {
    steps: () => [
        {
            content: "Name the meeting",
            trigger: ".o_form_view div[name=name] input",
            run: "edit Weekly account review",
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
            content: "Make it recurrent",
            trigger: ".o_form_view div[name=recurrency] input",
            run: "click",
        },
        {
            content: "Weekly, 6 times",
            trigger: ".o_form_view div[name=count] input",
            run: "edit 6",
        },
        {
            content: "Save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Confirm: the organiser's Outlook invites the attendees to the series",
            trigger: ".o_form_view button[name=action_o365_confirm]",
            run: "click",
        },
        {
            content: "The meeting shows as confirmed",
            trigger: ".o_form_view .o365_confirmed_badge:contains(Confirmed)",
        },
    ],
});

function editLocation(scope, location) {
    return [
        {
            content: `Choose "${scope}"`,
            trigger: `.o_form_view div[name=recurrence_update] input[data-value=${scope}]`,
            run: "click",
        },
        {
            content: "Change the location",
            trigger: ".o_form_view div[name=location] input",
            run: `edit ${location}`,
        },
        {
            content: "Save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_view .o_form_status_indicator_buttons.invisible:not(:visible)",
        },
    ];
}

registry.category("web_tour.tours").add("o365_recurring_this_event", {
    steps: () => editLocation("self_only", "Room 3"),
});

registry.category("web_tour.tours").add("o365_recurring_this_and_following", {
    steps: () => editLocation("future_events", "Room 4"),
});
