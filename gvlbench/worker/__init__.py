"""The measuring child: `python -m gvlbench.worker` reads one task and answers it.

One module per task kind (bench, progress, pool, race, guard_cost, calls, sweep, checks), as
the Ruby worker (gvlbench/ruby/) is one file per concern. This package imports only the
protocol and gvlbench.binding: a measuring child never loads the harness.
"""
