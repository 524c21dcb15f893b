"""The default attribution method of each model, chosen by measurement.

`strokelens explain`, `strokelens demo`, its report and `strokelens serve` explain with the method
this module names when none is asked for. The choice is made once, from the committed benchmark
results (``benchmarks/results/*.json``), and shipped as ``defaults.json`` beside this module; a test
re-makes it from the results and fails when the two differ. Regenerate it after a benchmark rerun::

    python -m strokelens.defaults --write          # `make defaults`; --check exits 1 when stale

The rule, per shipped model (doodlenet, stroke-transformer: sketches; darknet-tiny: photos):

1. **Candidates**: every method the model's source run (`MEASURED`: ``explainer.json``, where each
   model's methods are scored against exact Shapley values on held-out inputs, learned explainers
   included) reports, except the model-free baselines and the exact reference itself (the methods'
   capabilities ``model_free`` and ``reference``, read from ``attribution/catalogue.json``).
2. **Cost**: the most model evaluations per input that any of the model's results files records for
   the method (the source run and `MEASURED`'s cost files; ``*_ref`` figures included). A method whose
   cost grows with the units (occlusion: one evaluation per unit) is thus judged at the unit counts
   ``explain`` uses by default (``superpixels.json``: SLIC at 50 segments, as ``--segments``), not
   only at the ~9 superpixels where exact Shapley is affordable.
3. **Eligible**: a learned explainer (`LEARNED`) whose weights ship for the model, or any other
   method whose cost is at most `BUDGET` (16) evaluations per input.
4. **Rank**: the highest median Spearman agreement with exact Shapley values wins; every eligible
   method within `NEAR_TIE` (0.02) of the best counts as tied with it, and among those the lowest
   deletion AUC wins (then the lower cost, then the name).

A model given as ``--model PATH`` has no shipped learned explainer, so its input kind's **fallback**
is chosen by the same rule from the non-learned methods eligible on every shipped model of that
kind, on their mean Spearman (and mean deletion AUC) over those models.

A user who names a method (``--method sla``, ``--method gws``) gets exactly that method.

This module uses only the standard library (``benchmarks/figures.py`` loads it without PyTorch).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from strokelens.kinds import InputFiles, files_named

#: Model evaluations per input an interactive default may cost.
BUDGET = 16
#: Spearman values this close to the best one count as a tie, broken by deletion AUC.
NEAR_TIE = 0.02
#: The methods' capabilities (`strokelens.attribution.catalogue`, as data: this module needs no PyTorch).
CATALOGUE_FILE = Path(__file__).parent / "attribution" / "catalogue.json"


@cache
def _catalogue() -> list[dict]:
    return json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))["methods"]


def _names(**capabilities: object) -> tuple[str, ...]:
    """The catalogue's methods (in its listing order) with every given capability."""
    return tuple(m["name"] for m in _catalogue() if all(m[k] == v for k, v in capabilities.items()))


#: Model-free baselines: they do not explain the model.
BASELINES = _names(model_free=True)
#: The exact reference the others are scored against.
REFERENCES = _names(reference=True)
#: Learned explainers: they need trained weights (shipped, or ``--weights``).
LEARNED = _names(learned=True)
#: Methods looked for in the results as candidates (every method that explains the model and is not
#: the reference; one with no figures in the results is simply absent).
METHODS = _names(model_free=False, reference=False)
#: Where the shipped explainers' weights lie (``MODEL_KIND.json`` + ``.safetensors``).
WEIGHTS_DIR = Path(__file__).parent / "explainers" / "weights"
#: The packaged choice.
DEFAULTS_FILE = Path(__file__).with_name("defaults.json")


@dataclass(frozen=True)
class Measured:
    """Where a model's methods are measured: figures ``{prefix}{method}_{figure}`` of the results file
    ``source`` (a file stem), evaluations ``..._evaluations_per_{per}``; ``costs``: other files
    ``(stem, prefix, per)`` that record the same model's evaluations per input."""

    model: str
    input_kind: str
    source: str
    prefix: str
    per: str
    costs: tuple[tuple[str, str, str], ...] = ()


MEASURED = (
    Measured("doodlenet", "sketch", "explainer", "", "sketch", (("faithfulness", "", "sketch"),)),
    Measured("stroke-transformer", "sketch", "explainer", "st_", "sketch"),
    Measured("stroke-transformer-mixed", "sketch", "explainer", "stm_", "sketch"),
    Measured("darknet-tiny", "image", "explainer", "photo_", "photo", (("superpixels", "", "image"),)),
)


def weights_ship(model: str, method: str) -> bool:
    """Whether a trained ``method`` explainer ships for ``model``."""
    return (WEIGHTS_DIR / f"{model}_{method}.json").is_file() and (
        WEIGHTS_DIR / f"{model}_{method}.safetensors"
    ).is_file()


def _key(method: str) -> str:
    return method.replace("-", "_")


def _evaluations(results: Mapping[str, Mapping], where: Sequence[tuple[str, str, str]], method: str):
    """The most evaluations per input any of ``where`` records for ``method`` (None: none does)."""
    found = []
    for stem, prefix, per in where:
        figures = results.get(stem, {})
        for suffix in ("", "_ref"):
            value = figures.get(f"{prefix}{_key(method)}_evaluations_per_{per}{suffix}")
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.append(float(value))
    return max(found) if found else None


def _rank(rows: list[dict]) -> dict | None:
    """The winner among eligible ``rows`` by the rule (Spearman, near-ties by deletion AUC)."""
    eligible = [r for r in rows if r["eligible"]]
    if not eligible:
        return None
    best = max(r["spearman_vs_shapley"] for r in eligible)
    tied = [r for r in eligible if r["spearman_vs_shapley"] >= best - NEAR_TIE]
    return min(tied, key=lambda r: (r["deletion_auc"], r["evaluations"], r["method"]))


def measured_rows(results: Mapping[str, Mapping], spec: Measured) -> list[dict]:
    """Every method of ``spec``'s source run with its figures and whether it may be a default.

    Baselines and the reference are listed too (``eligible`` False, ``why`` says so), so a table of the
    rows shows what the default was measured against."""
    source = results.get(spec.source)
    if source is None:
        raise KeyError(f"no benchmarks/results/{spec.source}.json")
    where = ((spec.source, spec.prefix, spec.per), *spec.costs)
    rows = []
    for method in (*METHODS, *BASELINES, *REFERENCES):
        base = f"{spec.prefix}{_key(method)}"
        spearman, deletion = source.get(f"{base}_spearman_vs_shapley"), source.get(f"{base}_deletion_auc")
        if spearman is None or deletion is None:
            continue
        evaluations = _evaluations(results, where, method)
        learned = method in LEARNED
        if method in BASELINES:
            eligible, why = False, "model-free baseline"
        elif method in REFERENCES:
            eligible, why = False, "the exact reference"
        elif learned:
            ships = weights_ship(spec.model, method)
            eligible, why = ships, "learned, weights ship" if ships else "learned, no shipped weights"
        elif evaluations is None or evaluations > BUDGET:
            eligible, why = False, f"over {BUDGET} evaluations"
        else:
            eligible, why = True, f"at most {BUDGET} evaluations"
        rows.append(
            {
                "method": method,
                "spearman_vs_shapley": float(spearman),
                "deletion_auc": float(deletion),
                "evaluations": evaluations,
                "learned": learned,
                "eligible": eligible,
                "why": why,
                "keys": {
                    "spearman_vs_shapley": f"{base}_spearman_vs_shapley",
                    "deletion_auc": f"{base}_deletion_auc",
                },
            }
        )
    return rows


def _fallback(per_model: Mapping[str, list[dict]]) -> dict | None:
    """The no-weights default for a kind's user models, from its shipped models' ``rows``."""
    by_method: dict[str, list[dict]] = {}
    for rows in per_model.values():
        for r in rows:
            by_method.setdefault(r["method"], []).append(r)
    pooled = []
    for method, rs in by_method.items():
        if method in LEARNED or len(rs) < len(per_model):
            continue
        pooled.append(
            {
                "method": method,
                "spearman_vs_shapley": sum(r["spearman_vs_shapley"] for r in rs) / len(rs),
                "deletion_auc": sum(r["deletion_auc"] for r in rs) / len(rs),
                "evaluations": max(r["evaluations"] or 0.0 for r in rs),
                "eligible": all(r["eligible"] for r in rs),
            }
        )
    winner = _rank(pooled)
    return None if winner is None else {**winner, "over": sorted(per_model)}


def choose(results: Mapping[str, Mapping]) -> dict:
    """The defaults the rule picks from ``results`` (results-file stem -> its figures), in the form
    of ``defaults.json``."""
    models, by_kind = {}, {}
    for spec in MEASURED:
        rows = measured_rows(results, spec)
        winner = _rank(rows)
        if winner is None:
            raise ValueError(f"no eligible method for {spec.model} in {spec.source}.json")
        by_kind.setdefault(spec.input_kind, {})[spec.model] = rows
        models[spec.model] = {
            "input_kind": spec.input_kind,
            "method": winner["method"],
            "learned": winner["learned"],
            "units": files_named(spec.input_kind).default_units if winner["learned"] else None,
            "spearman_vs_shapley": winner["spearman_vs_shapley"],
            "deletion_auc": winner["deletion_auc"],
            "evaluations": winner["evaluations"],
            "source": f"benchmarks/results/{spec.source}.json",
            "keys": winner["keys"],
            "measured": [{k: v for k, v in r.items() if k != "keys"} for r in rows],
        }
    fallback = {kind: _fallback(per_model) for kind, per_model in by_kind.items()}
    return {
        "budget_evaluations": BUDGET,
        "near_tie": NEAR_TIE,
        "rule": (
            "among methods that explain the model (no model-free baseline, not the exact reference): "
            f"a learned explainer whose weights ship, or cost <= {BUDGET} evaluations per input (the most "
            "any results file records); highest median Spearman vs exact Shapley, ties within "
            f"{NEAR_TIE} broken by the lowest deletion AUC; user models: the non-learned methods, by "
            "their mean over the shipped models of the input kind"
        ),
        "models": models,
        "fallback": fallback,
    }


def load_results(folder: Path) -> dict[str, dict]:
    """Every ``NAME.json`` in ``folder``, by name."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(folder).glob("*.json"))}


@cache
def packaged() -> dict:
    """The shipped ``defaults.json``."""
    return json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))


def default_method(model: str | None, input_kind: str | InputFiles, units: str | None = None) -> str:
    """The default method for the shipped ``model`` (None or an unknown name: a user model of
    ``input_kind``: its kind of files, or their name, "sketch" or "image"). A learned default applies
    only to the units its weights were trained on; for other ``units`` the kind's no-weights fallback
    does."""
    input_kind = files_named(input_kind).name
    data = packaged()
    entry = data["models"].get(model or "")
    fits = entry is not None and entry["input_kind"] == input_kind
    if fits and (not entry["learned"] or units in (None, entry["units"])):
        return entry["method"]
    return data["fallback"][input_kind]["method"]


def help_text() -> str:
    """What ``--method`` defaults to, for a command's help."""
    data = packaged()
    shipped = ", ".join(f"{e['method']} ({m})" for m, e in data["models"].items())
    fb = data["fallback"]
    return (
        f"Default: the most faithful method within {data['budget_evaluations']} evaluations, as "
        f"measured: {shipped}; your own models: {fb['sketch']['method']} (sketches), "
        f"{fb['image']['method']} (photos)."
    )


MODEL_TITLES = {
    "doodlenet": "DoodleNet",
    "stroke-transformer": "stroke transformer",
    "stroke-transformer-mixed": "stroke-transformer-mixed",
    "darknet-tiny": "Tiny Darknet",
}


def _cost(row: Mapping) -> str:
    ev = row["evaluations"]
    text = "-" if ev is None else f"{ev:,.0f}" if ev >= 100 or ev == int(ev) else f"{ev:.1f}"
    return f"{text} (learned)" if row["learned"] else text


def markdown_table(data: Mapping) -> str:
    """docs/defaults.md's "which method to trust" table from ``data`` (`choose`'s result or the packaged
    file): per model, every measured method, best first, the default in bold."""
    lines = [
        "| model | method | model evaluations / input | Spearman vs exact Shapley ↑ | deletion AUC ↓ "
        "| default? |",
        "|---|---|---|---|---|---|",
    ]
    for model, entry in data["models"].items():
        rows = sorted(entry["measured"], key=lambda r: (-r["spearman_vs_shapley"], r["deletion_auc"]))
        for r in rows:
            chosen = r["method"] == entry["method"]
            name = f"**`{r['method']}`**" if chosen else f"`{r['method']}`"
            mark = "**default**" if chosen else ("eligible" if r["eligible"] else r["why"])
            lines.append(
                f"| {MODEL_TITLES.get(model, model)} | {name} | {_cost(r)} | "
                f"{r['spearman_vs_shapley']:.2f} | {r['deletion_auc']:.3f} | {mark} |"
            )
    for kind, fb in data["fallback"].items():
        what = files_named(kind).words
        mean = f" (mean of {len(fb['over'])})" if len(fb["over"]) > 1 else ""
        lines.append(
            f"| your own model ({what}) | **`{fb['method']}`** | {_cost({**fb, 'learned': False})} | "
            f"{fb['spearman_vs_shapley']:.2f}{mean} | {fb['deletion_auc']:.3f}{mean} | **default** |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Choose the default methods from the benchmark results.")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--write", action="store_true", help=f"rewrite {DEFAULTS_FILE.name}")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {DEFAULTS_FILE.name} is stale")
    parser.add_argument("--table", action="store_true", help="print the Markdown table")
    args = parser.parse_args(argv)
    data = choose(load_results(args.results))
    text = json.dumps(data, indent=2) + "\n"
    if args.check:
        current = DEFAULTS_FILE.read_text(encoding="utf-8") if DEFAULTS_FILE.is_file() else ""
        if current != text:
            print(f"{DEFAULTS_FILE}: stale; run `python -m strokelens.defaults --write`")
            return 1
    if args.write:
        DEFAULTS_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {DEFAULTS_FILE}")
    if args.table:
        print(markdown_table(data))
    if not (args.check or args.write or args.table):
        for model, entry in data["models"].items():
            print(
                f"{model}: {entry['method']} (Spearman {entry['spearman_vs_shapley']:.3f}, deletion AUC "
                f"{entry['deletion_auc']:.3f}, {_cost(entry)} evaluations)"
            )
        for kind, fb in data["fallback"].items():
            print(f"your own {kind} models: {fb['method']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
