"""Hypothesis strategies for what users hand gvlbench: spec files, results files, gate configs.

Each input comes three ways: arbitrary bytes, arbitrary text, and documents built from the
real vocabulary (the keys gvlbench reads, values of every type, right and wrong), written as
TOML by the small writer below or as JSON. The vocabulary is what makes the search useful:
random bytes are refused at the first step; a document that has the right keys with the
wrong values reaches the code behind it.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from typing import Any

from hypothesis import strategies as st

from gvlbench.binding import hosts
from gvlbench.report.gate import GateConfig

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what TOML can spell

# -- a small TOML writer -----------------------------------------------------------------------


def _toml_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """One value in TOML's inline syntax (tables as inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_str(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(doc: dict[str, Any]) -> str:
    """A document as a person writes it: plain keys first, then one [section] per table."""
    lines = [f"{_toml_str(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{_toml_str(key)}]")
            lines += [f"{_toml_str(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# -- values ----------------------------------------------------------------------------------

short_text = st.text(max_size=12)
toml_scalars = st.one_of(st.booleans(), I64, st.floats(), short_text)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=8,
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), short_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=8,
)
numbers = st.one_of(I64, st.floats())


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """A draw from one of `choices`, picked in proportion to its weight (st.one_of leans on
    its first branches)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(pool))).flatmap(lambda i: pool[i])


def either(right: st.SearchStrategy, anything: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly values of the right shape, sometimes anything at all."""
    return weighted((5, right), (1, anything))


# -- scenario specs --------------------------------------------------------------------------

# Names a spec's `wat` may hold: real sources (copied beside the spec), and the ways a name
# goes wrong (missing, a directory, not UTF-8, a symlink loop, too long for the OS, a NUL).
GOOD_WATS = ("arith.wat", "spin.wat", "mark.wat", "trap.wat", "callback.wat", "grow.wat")
BAD_WATS = ("missing.wat", "", ".", "binary.wat", "loop", "x" * 300, "a\0b")
EXPORTS = ("nop", "add_i32", "add_i64", "add_f32", "add_f64", "spin", "run", "trap", "grow",
           "f", "")  # fmt: skip

_wat = weighted((6, st.sampled_from(GOOD_WATS)), (2, st.sampled_from(BAD_WATS)), (1, toml_values))
_import = st.fixed_dictionaries(
    {"module": either(st.sampled_from(["host"]), toml_values),
     "name": either(st.sampled_from(["mark", "add", "abort"]), toml_values),
     "host": either(st.sampled_from(hosts.names()), toml_values)},
    optional={"extra": toml_values},
) | st.dictionaries(st.sampled_from(["module", "name", "host"]), short_text)  # fmt: skip
_expect = st.dictionaries(
    st.sampled_from(["result", "trap", "value"]),
    either(numbers | st.sampled_from(["unreachable", "wasm trap"]), toml_values),
    max_size=2,
)
_spec = st.fixed_dictionaries(
    {"wat": _wat, "export": either(st.sampled_from(EXPORTS), toml_values)},
    optional={
        "args": either(st.lists(numbers | st.integers(-3, 3), max_size=3), toml_values),
        "work_arg": either(st.integers(-1, 3), toml_values),
        "imports": either(st.lists(_import, max_size=2), toml_values),
        "expect": either(_expect, toml_values),
        "description": either(short_text, toml_values),
        "measures": either(short_text, toml_values),
    },
)
# now and then a key no spec has, or a required one missing
_extra = weighted((6, st.just({})), (1, st.dictionaries(short_text, toml_values, min_size=1,
                                                        max_size=1)))  # fmt: skip
_drop = st.sampled_from([None] * 8 + ["wat", "export"])
spec_docs = st.tuples(_spec, _extra, _drop).map(
    lambda t: {k: v for k, v in {**t[0], **t[1]}.items() if k != t[2]}
)

# -- results files ---------------------------------------------------------------------------

# Keys the report layer reads from rows, so rows built from them reach past the first lookup.
ROW_KEYS = ("scenario", "mode", "threads", "kind", "description", "interpreter", "runtime",
            "name", "call_path", "via", "samples", "overlap", "overlap_threads", "ratio",
            "call_s", "config", "trial_status", "after_start_s", "duration_s", "exceptions",
            "refused", "calls", "signal", "panic", "check", "status", "detail", "executor",
            "wall_s", "peak_rss_kib", "unguarded_ns", "guarded_ns", "metadata", "runs",
            "values", "work_size", "guard", "stderr_tail")  # fmt: skip
_row_values = either(
    st.one_of(st.sampled_from(["held", "released", "bench", "progress", "pool", "PASS", "FAIL",
                               "crashed", "ok", "threads", "processes", "mark", "stock"]),
              st.integers(-2, 4), st.floats(0, 2), st.lists(st.floats(0, 2), max_size=3)),
    json_values,
)  # fmt: skip
rows = st.recursive(
    st.dictionaries(st.sampled_from(ROW_KEYS), _row_values, max_size=8),
    lambda inner: st.dictionaries(st.sampled_from(ROW_KEYS), inner | _row_values, max_size=6),
    max_leaves=12,
)
SECTIONS = ("progress", "failures", "race", "guard_cost", "verify", "pool")
results_docs = st.fixed_dictionaries(
    {
        "version": either(st.just("1.0"), json_values),
        "gvlbench": either(
            st.fixed_dictionaries(
                {"schema": either(st.integers(-1, 2), json_values)},
                optional={
                    "command": either(
                        st.sampled_from(["run", "calls", "sweep", "gate"]), json_values
                    ),
                    **{s: either(st.lists(rows, max_size=3), json_values) for s in SECTIONS},
                },
            ),
            json_values,
        ),
    },
    optional={
        "metadata": either(
            st.dictionaries(
                st.sampled_from(["usable_cpus", "wasmtime_version", "sweep_threads"]), json_values
            ),
            json_values,
        ),
        "benchmarks": either(st.lists(rows, max_size=3), json_values),
    },
)


def results_text(doc: Any) -> str:
    return json.dumps(doc)


# -- gate configs ----------------------------------------------------------------------------

_GATE_FIELDS = {f.name: type(getattr(GateConfig(), f.name)) for f in fields(GateConfig)}


def _gate_value(typ: type) -> st.SearchStrategy:
    if typ is tuple:
        names = st.sampled_from(["spin", "mark", "nop", "python", "ruby", "nosuch", ""])
        return st.lists(names, max_size=3)
    if typ is int:
        return st.integers(-2, 6)
    if typ is float:
        return st.floats(-1, 10) | st.integers(-1, 3)
    return st.sampled_from(["fast", "default", "rigorous", "bogus"])


def _gate_table() -> st.SearchStrategy:
    entry = st.sampled_from([*_GATE_FIELDS, "bogus"]).flatmap(
        lambda k: st.tuples(st.just(k), either(_gate_value(_GATE_FIELDS.get(k, str)), toml_values))
    )
    return st.lists(entry, max_size=4).map(dict)


gate_docs = st.fixed_dictionaries(
    {},
    optional={
        "measure": either(_gate_table(), toml_values),
        "invariants": either(_gate_table(), toml_values),
        "tolerance": either(_gate_table(), toml_values),
        "bogus": toml_values,
    },
)

# Documents results.load accepts (the right envelope, rows of any content): what the report
# layer behind `show`, `compare` and `gate --current` then has to read.
loadable_results_docs = st.fixed_dictionaries(
    {
        "version": st.just("1.0"),
        "metadata": st.dictionaries(
            st.sampled_from(["usable_cpus", "wasmtime_version"]), st.integers(1, 4) | short_text
        ),
        "benchmarks": st.lists(rows, max_size=2),
        "gvlbench": st.fixed_dictionaries(
            {"schema": st.just(1), "command": st.sampled_from(["run", "calls", "sweep", "gate"])},
            optional={s: st.lists(rows, min_size=1, max_size=2) for s in SECTIONS},
        ),
    }
)
