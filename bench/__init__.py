# Benchmark harness (tools/bench.sh); not part of the Odoo module, which never imports it.
