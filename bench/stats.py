"""Small statistics shared by the benchmark scenarios (no Odoo import: bench/engine.py
must not import Odoo before it has configured it)."""


def percentile(values, q):
    """The q-th percentile (nearest rank) of ``values``, or None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
