# Run by tools/demo.sh inside `odoo shell` (env is given): points the module at
# the Graph emulator's demo tenant and creates the Odoo side of that tenant.
import os

params = env["ir.config_parameter"].sudo()  # noqa: F821 - provided by odoo shell
emulator = os.environ["O365_EMULATOR_URL"]
for key, value in {
    "client_id": "demo-client-id",
    "client_secret": "demo-client-secret",
    "tenant": "common",
    "login_endpoint": emulator,
    "graph_endpoint": emulator + "/v1.0",
    "ca_bundle": os.environ["O365_EMULATOR_CA"],
    "public_base_url": os.environ["O365_ODOO_URL"],
    "org_domains": "contoso.example",
}.items():
    params.set_param(f"o365_calendar_sync.{key}", value)
params.set_param("web.base.url", os.environ["O365_ODOO_URL"])

Users = env["res.users"].with_context(no_reset_password=True)  # noqa: F821
sales_group = env.ref("base.group_user")  # noqa: F821
for login, name, tz in (("alex", "Alex Wilber", "Europe/London"), ("sam", "Sam Taylor", "America/New_York")):
    if not Users.search([("login", "=", login)]):
        Users.create(
            {
                "login": login,
                "password": login,
                "name": name,
                "email": f"{login}@contoso.example",
                "tz": tz,
                "groups_id": [(6, 0, [sales_group.id])],
            }
        )

Partners = env["res.partner"]  # noqa: F821
customer = Partners.search([("name", "=", "Customer Ltd")], limit=1) or Partners.create(
    {"name": "Customer Ltd", "is_company": True, "email": "info@customer.example"}
)
for name, email, company in (
    ("Jane Doe", "jane.doe@customer.example", customer),
    ("Bob Stone", "bob@acme.example", Partners.browse()),
):
    if not Partners.search([("email", "=ilike", email)]):
        Partners.create({"name": name, "email": email, "parent_id": company.id or False})
env.company.email = env.company.email or "info@contoso.example"  # noqa: F821
env.cr.commit()  # noqa: F821
print("demo settings and users ready")
