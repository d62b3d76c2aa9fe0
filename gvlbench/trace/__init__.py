"""`gvlbench trace -- COMMAND`: run any Python program and say what in it breaks under threads.

One feature, one folder (as pytest-run-parallel keeps its plugin together), split by concern
and by the process each part runs in:

- the harness side: `run.py` (run the program, read its records as they come, write the
  results), `command.py` (what to run, under which interpreter), `program.py` (the child:
  started by the keeper, relayed, stopped), `points.py` (what the hook watches: every binding's
  objects that two threads must not enter at once, and `--watch`);
- the model: `model.py` (the records read into processes, objects, sites and findings),
  `hazards.py` (each kind of hazard: its record, its finding, its fix), `verdict.py` (the exit
  code: the program's own end and the findings together);
- the report: `tables.py` (rich tables and lines, and JUnit cases);
- the repro builder: `repro.py` with `pysource.py` (the program's own lines sliced into a
  `gvlbench race` command, checked by the code probe);
- the hook: `hook/` (sitecustomize and `gvlbench_tracehook`), which runs inside the traced
  program's interpreter, so it imports the standard library only (lint-imports holds it).
"""
