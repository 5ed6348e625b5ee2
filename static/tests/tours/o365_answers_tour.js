/** @odoo-module **/
/*
 * SPEC A17 in a real browser (tests/test_tour_answers.py drives it and reads Outlook's
 * side, the emulator's calendar page, after the push): a colleague answers a meeting
 * with Odoo's own Yes / No / Maybe in the calendar.
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("o365_colleague_declines_in_odoo", {
    url: "/odoo/calendar",
    steps: () => [
        {
            content: "Open the meeting the organiser confirmed",
            trigger: ".fc-event:contains(Contract review)",
            run: "click",
        },
        {
            content: "Answer No, with Odoo's own buttons",
            trigger: ".o_popover .btn-group button:contains(No)",
            run: "click",
        },
        {
            content: "The calendar shows the meeting as declined",
            trigger: ".fc-event.o_attendee_status_declined:contains(Contract review)",
        },
    ],
});
