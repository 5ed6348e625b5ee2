/** @odoo-module **/
// S1: "Test connection" on the settings page runs on the values typed in the
// form, saved or not, and lists every check with a pass or fail mark.

import { Component, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

const FIELDS = [
    "o365_client_id",
    "o365_client_secret",
    "o365_tenant",
    "o365_public_base_url",
    "o365_login_endpoint",
    "o365_graph_endpoint",
    "o365_ca_bundle",
    "o365_connection_mode",
    "o365_certificate",
    "o365_certificate_thumbprint",
];

export class O365ConnectionTest extends Component {
    static template = "o365_calendar_sync.ConnectionTest";
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ running: false, result: null });
    }

    async run() {
        const values = {};
        for (const name of FIELDS) {
            values[name] = this.props.record.data[name] || false;
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
