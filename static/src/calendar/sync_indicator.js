/** @odoo-module **/
/*
 * Issue 15: the Calendar app says whether the user's Microsoft 365 sync runs, as Odoo's own
 * Outlook sync does in the same place; a click opens the user's preferences (Calendar tab).
 */
import { Component, onWillStart, useState } from "@odoo/owl";
import { AttendeeCalendarController } from "@calendar/views/attendee_calendar/attendee_calendar_controller";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";

const CLASSES = {
    syncing: "text-bg-success",
    late: "text-bg-warning",
    failing: "text-bg-warning",
    paused: "text-bg-warning",
    stopped: "text-bg-secondary",
    reconnect: "text-bg-danger",
    disconnected: "text-bg-light",
};

export class O365SyncIndicator extends Component {
    static template = "o365_calendar_sync.SyncIndicator";
    static props = {};

    setup() {
        this.orm = useService("orm");
        this.state = useState({ info: null });
        onWillStart(async () => {
            try {
                this.state.info = await this.orm.call("res.users", "o365_sync_indicator", []);
            } catch {
                this.state.info = null; // never break the calendar for an indicator
            }
        });
    }

    get badgeClass() {
        return CLASSES[this.state.info.state] || "text-bg-light";
    }

    get title() {
        const info = this.state.info;
        return [
            info.error,
            info.waiting ? _t("%s waiting", info.waiting) : "",
            info.failed ? _t("%s failed", info.failed) : "",
        ]
            .filter(Boolean)
            .join(" · ");
    }
}

AttendeeCalendarController.components = { ...AttendeeCalendarController.components, O365SyncIndicator };
