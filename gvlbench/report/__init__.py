"""Reading results: derived rows, comparisons, the gate's rules, tables, plots and JUnit.

Everything here reads a results document and nothing here measures or runs a child.
"""
