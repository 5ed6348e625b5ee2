# The repository root is this module, and it also holds plain-Python packages with
# their own pytest suites (graph_emulator/, tools/). pytest imports this file as a
# package under the checkout's folder name when it collects them; only Odoo's
# import (odoo.addons.o365_calendar_sync) may register the models.
if __name__.startswith("odoo.addons."):
    from . import controllers
    from . import models
    from . import engine
    from . import wizard
    from .hooks import uninstall_hook
