"""Single-value extended properties on events: id formats, normalisation, filters.

Id formats (https://learn.microsoft.com/en-us/graph/api/resources/extended-properties-overview):
"{type} {guid} Name {name}", "{type} {guid} Id {id}" and "{type} {proptag}".

Matching rules (https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get):
"Filtering the string name (Name) in the id of an extended property is case-sensitive. Filtering
the value property of an extended property is case-insensitive." The type name and the GUID are
matched case-insensitively (a GUID is a number; Exchange stores it as one).

Normalisation [A]: the service stores the property set GUID as a GUID and the type as a MAPI
type, so the id read back through $expand is rebuilt from them: canonical type spelling
("string" → "String") and a lower-case GUID (the documented samples show lower-case GUIDs,
e.g. "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color"; a caller in
https://github.com/microsoftgraph/microsoft-graph-docs/issues/2251 saw an id come back different
from the one requested). The Name keeps its case.

An id in none of these formats is refused with 400 ErrorInvalidExtendedProperty "The extended
property attribute combination is invalid." ([T] the error quoted in issue 2251 above; that caller
got it for a type/tag combination, the emulator uses it for every unusable id [A])."""

import re

from .errors import GraphError

# MAPI property types Graph accepts in single-value ids (extended-properties-overview, "id formats").
TYPES = {
    t.lower(): t
    for t in (
        "ApplicationTime",
        "Binary",
        "Boolean",
        "CLSID",
        "Currency",
        "Double",
        "Float",
        "Integer",
        "Long",
        "Object",
        "Short",
        "String",
        "SystemTime",
    )
}
_GUID = r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?"
_NAMED = re.compile(rf"^\s*(\w+)\s+{_GUID}\s+Name\s+(\S.*?)\s*$", re.I)
_NUMBERED = re.compile(rf"^\s*(\w+)\s+{_GUID}\s+Id\s+(0x[0-9a-fA-F]+|\d+)\s*$", re.I)
_TAGGED = re.compile(r"^\s*(\w+)\s+(0x[0-9a-fA-F]{1,4})\s*$", re.I)


def invalid():
    return GraphError(400, "ErrorInvalidExtendedProperty", "The extended property attribute combination is invalid.")


def normalize(prop_id):
    """Canonical form of an extended property id, or GraphError 400 if it is not one."""
    if not isinstance(prop_id, str):
        raise invalid()
    m = _NAMED.match(prop_id)
    if m and m.group(1).lower() in TYPES:
        return f"{TYPES[m.group(1).lower()]} {{{m.group(2).lower()}}} Name {m.group(3)}"
    m = _NUMBERED.match(prop_id)
    if m and m.group(1).lower() in TYPES:
        num = m.group(3)
        num = int(num, 16) if num.lower().startswith("0x") else int(num)
        return f"{TYPES[m.group(1).lower()]} {{{m.group(2).lower()}}} Id 0x{num:x}"
    m = _TAGGED.match(prop_id)
    if m and m.group(1).lower() in TYPES:
        return f"{TYPES[m.group(1).lower()]} 0x{int(m.group(2), 16):x}"
    raise invalid()


def same_id(stored, wanted):
    """Whether a stored (normalised) id is the one a request names."""
    return stored == wanted


def merge(current, incoming):
    """Apply a create/PATCH `singleValueExtendedProperties` list onto the stored list.

    Properties not named in `incoming` stay (a PATCH that does not mention them keeps them)."""
    if not isinstance(incoming, list):
        raise GraphError(400, "RequestBodyRead", "singleValueExtendedProperties must be a collection.")
    merged = {p["id"]: p for p in current}
    for item in incoming:
        if not isinstance(item, dict):
            raise GraphError(400, "RequestBodyRead", "An extended property must be an object with id and value.")
        unknown = set(item) - {"id", "value", "@odata.type"}
        if unknown:
            from .errors import unknown_property

            raise unknown_property(sorted(unknown)[0], "microsoft.graph.singleValueLegacyExtendedProperty")
        pid = normalize(item.get("id"))
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise GraphError(
                400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type 'Edm.String'."
            )
        merged[pid] = {"id": pid, "value": value}
    return list(merged.values())


# $filter=singleValueExtendedProperties/any(ep: ep/id eq '…' [and <value condition>])
_ANY = re.compile(r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*(.*)\)\s*$", re.I | re.S)
_ID_EQ = r"{v}/id\s+eq\s+'((?:[^']|'')*)'"
_VALUE_COND = (
    r"^{v}/value\s+(eq|ne)\s+'((?:[^']|'')*)'$",
    r"^(startswith|contains)\(\s*{v}/value\s*,\s*'((?:[^']|'')*)'\s*\)$",
)


def is_any_clause(clause):
    return bool(_ANY.match(clause))


def any_predicate(clause):
    """A predicate on stored events for one singleValueExtendedProperties/any(...) clause."""
    m = _ANY.match(clause)
    var, body = m.group(1), m.group(2).strip()
    m_id = re.match(r"^" + _ID_EQ.format(v=re.escape(var)) + r"\s*(?:and\s+(.*))?$", body, re.I | re.S)
    if not m_id:
        raise GraphError(
            400, "ErrorInvalidUrlQueryFilter", f"The emulator does not support the filter clause '{clause}'."
        )
    pid = normalize(m_id.group(1).replace("''", "'"))
    cond = (m_id.group(2) or "").strip()
    test = None
    if cond:
        for pattern in _VALUE_COND:
            mv = re.match(pattern.format(v=re.escape(var)), cond, re.I | re.S)
            if mv:
                op, want = mv.group(1).lower(), mv.group(2).replace("''", "'").lower()
                if op == "eq":
                    test = lambda v, want=want: v is not None and v.lower() == want  # noqa: E731
                elif op == "ne":
                    test = lambda v, want=want: v is None or v.lower() != want  # noqa: E731
                elif op == "startswith":
                    test = lambda v, want=want: v is not None and v.lower().startswith(want)  # noqa: E731
                else:
                    test = lambda v, want=want: v is not None and want in v.lower()  # noqa: E731
                break
        if test is None:
            raise GraphError(
                400, "ErrorInvalidUrlQueryFilter", f"The emulator does not support the filter clause '{clause}'."
            )

    def predicate(ev):
        for p in ev.get("_singleValueExtendedProperties", ()):
            if p["id"] == pid and (test is None or test(p["value"])):
                return True
        return False

    return predicate


_EXPAND = re.compile(r"^\s*singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.*)\))?\s*$", re.I | re.S)


def expand_ids(expand):
    """Normalised ids named by $expand=singleValueExtendedProperties($filter=id eq '…' [or id eq '…']).

    None when $expand does not name extended properties; [] when it names them without a filter
    (Graph then returns none: there is no way to read all of them at once)."""
    if not expand:
        return None
    for part in re.split(r",(?![^()]*\))", expand):
        m = _EXPAND.match(part)
        if not m:
            continue
        if not m.group(1):
            return []
        ids = []
        for clause in re.split(r"\s+or\s+", m.group(1).strip()):
            mc = re.match(r"^\s*id\s+eq\s+'((?:[^']|'')*)'\s*$", clause, re.I)
            if not mc:
                raise GraphError(400, "BadRequest", f"Invalid $expand filter '{m.group(1)}'.")
            ids.append(normalize(mc.group(1).replace("''", "'")))
        return ids
    return None
