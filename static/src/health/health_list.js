/** @odoo-module **/
/*
 * Issue 23: the administrators' health list (Connected Users) offers Pause all sync or Resume
 * all sync, whichever applies, not both, and Start Syncing Users only when the organisation
 * connects mailboxes. The header buttons read `context.o365_sync_paused` and
 * `context.o365_organization_mode`, which this controller asks the server for each time the
 * list loads (Pause and Resume reload it).
 */
import { onWillStart } from "@odoo/owl";
import { evaluateBooleanExpr } from "@web/core/py_js/py";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";

export class O365HealthListController extends ListController {
    setup() {
        super.setup();
        const orm = useService("orm");
        this.o365Info = { o365_sync_paused: false, o365_organization_mode: false };
        onWillStart(async () => {
            const info = await orm.call("o365.sync.account", "o365_health_list_info", []);
            this.o365Info = {
                o365_sync_paused: Boolean(info.paused),
                o365_organization_mode: Boolean(info.organization),
            };
        });
    }

    evalViewModifier(modifier) {
        // A list's evaluation context is its action's context itself.
        const context = { ...this.model.root.evalContext, ...this.o365Info };
        return evaluateBooleanExpr(modifier, { ...context, context });
    }
}

registry.category("views").add("o365_health_list", {
    ...listView,
    Controller: O365HealthListController,
});
