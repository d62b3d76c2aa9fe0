"""trace's hook: sitecustomize and gvlbench_tracehook, put first on the traced program's
PYTHONPATH (this directory is the path entry). Standard library only: lint-imports holds it."""
