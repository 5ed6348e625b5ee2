/** @odoo-module **/
// S1: "Test connection" on the settings page runs on the values typed in the
// form, saved or not, and lists every check with a pass or fail mark.

import { Component, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

export class O365ConnectionTest extends Component {
    static template = "o365_calendar_sync.ConnectionTest";
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ running: false, result: null });
    }

    async run() {
        // Every Microsoft 365 field of the form: the server keeps those a connection test reads.
        const values = {};
        for (const [name, value] of Object.entries(this.props.record.data)) {
            if (name.startsWith("o365_") && (typeof value !== "object" || value === null)) {
                values[name] = value || false;
            }
        }
        this.state.running = true;
        try {
            const result = await this.orm.call("res.config.settings", "o365_check_connection_values", [
                values,
            ]);
            this.state.result = result;
            // The list stays on the page; the notification only announces it.
            await this.action.doAction({
                ...result.notification,
                params: { ...result.notification.params, sticky: false },
            });
        } finally {
            this.state.running = false;
        }
    }
}

registry.category("view_widgets").add("o365_connection_test", { component: O365ConnectionTest });
