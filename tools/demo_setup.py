# Run by tools/demo.sh inside `odoo shell` (env is given): points the module at
# the Graph emulator's demo tenant and creates the Odoo side of that tenant: the
# salespeople Alex and Sam with the rights and records a real salesperson has
# (Sales and Contacts, an employee record, a manager who approves their leaves),
# their manager Kim, and the customers the emulator's demo meetings are with.
# Safe to run again: existing records are completed, never duplicated.
import os
from datetime import date

env = env  # noqa: F821 - provided by odoo shell
params = env["ir.config_parameter"].sudo()
emulator = os.environ["O365_EMULATOR_URL"]
for key, value in {
    "client_id": "demo-client-id",
    "client_secret": "demo-client-secret",
    # The demo tenant's domain: the organisation-wide connection needs a tenant, not "common".
    "tenant": "contoso.example",
    "login_endpoint": emulator,
    "graph_endpoint": emulator + "/v1.0",
    "ca_bundle": os.environ["O365_EMULATOR_CA"],
    "public_base_url": os.environ["O365_ODOO_URL"],
    "org_domains": "contoso.example",
}.items():
    params.set_param(f"o365_calendar_sync.{key}", value)
params.set_param("web.base.url", os.environ["O365_ODOO_URL"])
env.company.email = env.company.email or "info@contoso.example"
# The administrator's mailbox in the demo tenant (a tenant admin there): Grant admin consent and
# Test connection's "Reading a mailbox" use it.
env.ref("base.user_admin").email = "admin@contoso.example"


def group_ids(*xmlids):
    """Ids of the groups that exist in this database (CRM may be missing)."""
    return [group.id for group in (env.ref(xmlid, raise_if_not_found=False) for xmlid in xmlids) if group]


# --- People ---------------------------------------------------------------------
# Salespeople: Sales (own documents), Contacts (create and edit customers, which
# scheduling an activity on a customer needs), Time Off for themselves.
SALES_GROUPS = group_ids("base.group_user", "base.group_partner_manager", "sales_team.group_sale_salesman")
# Their manager also sees the whole team's pipeline and approves their leaves.
MANAGER_GROUPS = group_ids(
    "base.group_user",
    "base.group_partner_manager",
    "sales_team.group_sale_salesman_all_leads",
    "hr_holidays.group_hr_holidays_responsible",
)

Users = env["res.users"].with_context(no_reset_password=True)
Employees = env["hr.employee"].sudo()


def user(login, name, tz, groups):
    record = Users.search([("login", "=", login)])
    # o365_mailbox: the mailbox the organisation-wide connection opens for them (their login is no email).
    values = {"name": name, "email": f"{login}@contoso.example", "tz": tz, "o365_mailbox": f"{login}@contoso.example"}
    if not record:
        record = Users.create(dict(values, login=login, password=login, groups_id=[(6, 0, groups)]))
    else:
        record.write(dict(values, groups_id=[(4, group_id) for group_id in groups]))
    return record


def employee(user_record, job, manager=None):
    record = Employees.search([("user_id", "=", user_record.id)], limit=1) or Employees.create(
        {"name": user_record.name, "user_id": user_record.id}
    )
    values = {"job_title": job, "work_email": user_record.email}
    if manager:
        values.update(parent_id=manager.id, leave_manager_id=manager.user_id.id)
    record.write(values)
    return record


kim = user("kim", "Kim Akers", "Europe/London", MANAGER_GROUPS)
kim_employee = employee(kim, "Sales Manager")
alex = user("alex", "Alex Wilber", "Europe/London", SALES_GROUPS)
alex_employee = employee(alex, "Account Executive", kim_employee)
sam = user("sam", "Sam Taylor", "America/New_York", SALES_GROUPS)
sam_employee = employee(sam, "Account Executive", kim_employee)

# Paid time off to request (the "Sick Time Off" type needs no allocation).
paid = env.ref("hr_holidays.holiday_status_cl", raise_if_not_found=False)
if paid:
    Allocations = env["hr.leave.allocation"].sudo()
    for emp in (alex_employee, sam_employee):
        if not Allocations.search([("employee_id", "=", emp.id), ("holiday_status_id", "=", paid.id)]):
            allocation = Allocations.create(
                {
                    "name": "Paid time off (demo)",
                    "holiday_status_id": paid.id,
                    "employee_id": emp.id,
                    "number_of_days": 20,
                    "date_from": date(date.today().year, 1, 1),
                }
            )
            if allocation.state != "validate":
                allocation.action_approve()

# --- Customers ------------------------------------------------------------------------
# The emulator's demo meetings are with these addresses (graph_emulator/demo.py).
Partners = env["res.partner"]


def partner(name, email=None, **values):
    domain = [("email", "=ilike", email)] if email else [("name", "=", name), ("is_company", "=", True)]
    record = Partners.search(domain, limit=1)
    values = dict(values, name=name, email=email or values.get("email"))
    if record:
        record.write(values)
        return record
    return Partners.create(values)


customer = partner(
    "Customer Ltd",
    is_company=True,
    email="info@customer.example",
    phone="+44 20 7946 0100",
    website="https://customer.example",
    city="London",
    user_id=alex.id,
)
acme = partner(
    "Acme Corporation",
    is_company=True,
    email="contact@acme.example",
    phone="+1 212 555 0100",
    city="New York",
    user_id=sam.id,
)
jane = partner(
    "Jane Doe",
    "jane.doe@customer.example",
    parent_id=customer.id,
    function="Purchasing Manager",
    phone="+44 20 7946 0101",
    user_id=alex.id,
)
carol = partner(
    "Carol White",
    "carol@customer.example",
    parent_id=customer.id,
    function="Head of Operations",
    phone="+44 20 7946 0102",
    user_id=alex.id,
)
bob = partner(
    "Bob Smith", "bob@acme.example", parent_id=acme.id, function="IT Director", phone="+1 212 555 0101", user_id=sam.id
)

# An opportunity each in the CRM pipeline, when CRM is installed.
if "crm.lead" in env:
    Leads = env["crm.lead"]
    for name, contact, owner, revenue in (
        ("Customer Ltd: renewal 2025", jane, alex, 24000),
        ("Acme: platform upgrade", bob, sam, 18000),
    ):
        if not Leads.search([("name", "=", name)]):
            Leads.create(
                {
                    "name": name,
                    "type": "opportunity",
                    "partner_id": contact.id,
                    "user_id": owner.id,
                    "expected_revenue": revenue,
                }
            )

# --- Check: a salesperson can do the basic task ----------------------------------------
# Alex schedules a call on a customer (rolled back: the demo starts clean).
with env.cr.savepoint(flush=True) as savepoint:
    jane.with_user(alex).activity_schedule("mail.mail_activity_data_call", summary="Demo rights check", user_id=alex.id)
    savepoint.rollback()

env.cr.commit()
print("demo settings, people and customers ready")
