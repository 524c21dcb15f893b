"""Adversarial stroke attacks driven by explanations, on the SPG test sketches DoodleNet reads right.

Removal: strokes are removed in the order each attribution method ranks them (psla pooled from
pieces to strokes; the learned explainers as shipped) until DoodleNet reads another class; success
within 1, 2 and 3 removed strokes (in the game: the drawing's frame fixed, as every method and
metric removes a stroke), the share of ink removed where it succeeded, and the share of those
successes whose drawing still fools the model when read afresh (re-framed around the strokes left:
``*_reread_*``). Exact Shapley
values (2^K evaluations) rank only the sketches of at most ``--shapley-max`` strokes; every ordering
is also measured on that subset (keys ``attack_remove_small_*``). Targeted removal aims at a random
other SPG class (seeded), within 3 strokes. ``best`` is the model-based ordering with the highest
success within 2 strokes; the JSON names it.

Geometry: projected gradient steps on the points of the 3 pieces P-SLA ranks highest, of 3 random
pieces, or of every point, each point's displacement at most eps times the bounding-box diagonal
(eps 0.01, 0.02, 0.05). Success is counted the honest way: the attacked drawing is read afresh
(simplified and drawn from scratch, as `strokelens predict` reads a saved file).

Transfer: drawings attacked on DoodleNet are shown to the stroke transformer, and drawings the
stroke transformer's own removal attack fooled are shown to DoodleNet; the rate is the share fooled
among those the other model read right before.

    python benchmarks/attack.py --smoke   # or --quick
    python benchmarks/attack.py --json benchmarks/results/attack.json
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table

from _common import benchmark_parser, spg_classes_for, write_figures
from strokelens.attacks import classify, geometry_attack, removal_attack, stroke_scores, transfer_fooled
from strokelens.datasets import load_spg, spg_classes
from strokelens.errors import StrokelensError
from strokelens.games import class_index, normalise_class_name
from strokelens.models import load_model
from strokelens.views import view_for

ORDERINGS = ["sla", "psla", "ig", "occlusion", "fastshap", "wys", "random", "length"]
MODEL_FREE = ("random", "length")
TARGETED = ["sla", "occlusion", "fastshap", "random", "length"]
ST_ORDERINGS = ["sla", "occlusion", "fastshap", "random", "length"]
EPSILONS = (0.01, 0.02, 0.05)
SELECTIONS = ("psla", "random", "all")
BATCH = 128


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = benchmark_parser(
        __doc__,
        quick="3 sketches a class (about a minute)",
        smoke="3 sketches of 2 SPG classes, exact Shapley on up to 2 of at most 6 strokes",
    )
    p.add_argument("--per-class", type=int, default=50, help="SPG test sketches a class (full run)")
    p.add_argument("--shapley-max", type=int, default=10, help="most strokes for the exact Shapley block")
    p.add_argument("--shapley-n", type=int, default=200, help="most sketches in the exact Shapley block")
    p.add_argument("--home", default=None)
    args = p.parse_args(argv)
    args.per_class = args.size.pick(full=args.per_class, quick=3, smoke=3)
    args.shapley_n = args.size.pick(full=args.shapley_n, quick=12, smoke=2)
    args.shapley_max = args.size.pick(full=args.shapley_max, quick=args.shapley_max, smoke=6)
    return args


def read_right(view, sketches):
    """The sketches ``view``'s model reads as their label, prepared its way."""
    names = classify(view, sketches)
    key = normalise_class_name
    return [s for s, n in zip(sketches, names, strict=True) if key(n) == key(s.label)]


def removal_run(view, sketches, orderings, goals=None):
    """Per ordering: the removal attack on every sketch (batched), as one dict of tensors."""
    out = {}
    for name in orderings:
        start = time.perf_counter()
        removed, ink, cost, reread, pairs = [], [], 0.0, [], []
        for lo in range(0, len(sketches), BATCH):
            units = view.units_for(sketches[lo : lo + BATCH], "stroke")
            target = view.game(units).full_outputs.argmax(1)
            goal = None if goals is None else goals[lo : lo + BATCH]
            scores, per_sketch = stroke_scores(view, units, name, target, goal)
            res = removal_attack(view, units, scores, goal=goal, max_removed=3)
            removed.append(res.removed)
            ink.append(res.ink_removed)
            # The drawing the attack left, read afresh (re-framed around the strokes that are left).
            ok = res.success.tolist()
            done = [(s, a) for s, a, o in zip(units.sketches, res.attacked_sketches(), ok, strict=True) if o]
            reads = classify(view, [a for _, a in done]) if done else []
            orig = [view.class_names[int(k)] for k, o in zip(res.original, ok, strict=True) if o]
            reread.extend(
                normalise_class_name(r) != normalise_class_name(k) for r, k in zip(reads, orig, strict=True)
            )
            pairs.extend(done)
            cost += per_sketch * len(units)
        out[name] = {
            "removed": torch.cat(removed),
            "ink": torch.cat(ink),
            "evaluations": cost / len(sketches),
            "reread": torch.tensor(reread, dtype=torch.bool),
            "pairs": pairs,  # (drawing, what the attack left) where it succeeded, for transfer
            "seconds": time.perf_counter() - start,
        }
    return out


def transfer_rate(other, pairs) -> tuple[float, int]:
    """The share of attacked drawings that fool ``other`` among the originals it reads right, and
    how many it read right; ``pairs``: (original, attacked) drawings."""
    eligible, fooled = transfer_fooled(
        other, [s for s, _ in pairs], [a for _, a in pairs], [s.label for s, _ in pairs]
    )
    return float(fooled.sum() / eligible.sum().clamp(min=1)), int(eligible.sum())


def removal_figures(prefix: str, runs: dict) -> dict[str, float]:
    fig: dict[str, float] = {}
    for name, r in runs.items():
        removed = r["removed"]
        for k in (1, 2, 3):
            fig[f"{prefix}_k{k}_{name}"] = float(((removed > 0) & (removed <= k)).float().mean())
        ok = removed > 0
        fig[f"{prefix}_ink_{name}"] = float(r["ink"][ok].mean()) if ok.any() else float("nan")
        fig[f"{prefix}_evaluations_{name}"] = r["evaluations"]
        fig[f"{prefix}_reread_{name}"] = float(r["reread"].float().mean()) if ok.any() else float("nan")
    return fig


def best_of(fig: dict, prefix: str, names) -> str:
    model_based = [n for n in names if n not in MODEL_FREE]
    return max(model_based, key=lambda n: fig[f"{prefix}_k2_{n}"])


def geometry_run(view, sketches, eps: float, selection: str):
    """The geometry attack on every sketch; success read afresh from the attacked drawings."""
    attacked, moved, disp, in_attack = [], [], [], []
    for lo in range(0, len(sketches), BATCH):
        units = view.units_for(sketches[lo : lo + BATCH], "piece", pieces_per_stroke=3)
        res = geometry_attack(view, units, eps=eps, selection=selection)
        attacked.extend(res.attacked_sketches())
        moved.append(res.points_moved.float())
        disp.append(res.mean_displacement)
        in_attack.append(res.success)
    names = classify(view, attacked)
    key = normalise_class_name
    fooled = torch.tensor([key(n) != key(s.label) for n, s in zip(names, sketches, strict=True)])
    return {
        "fooled": fooled,
        "in_attack": torch.cat(in_attack),
        "moved": torch.cat(moved),
        "displacement": torch.cat(disp),
        "attacked": attacked,
    }


def main() -> None:
    args = parse_args()
    console = Console(width=150)
    torch.manual_seed(0)
    started = time.perf_counter()
    per_class, shapley_n = args.per_class, args.shapley_n
    doodlenet = view_for(load_model("doodlenet", home=args.home))
    transformer = view_for(load_model("stroke-transformer", home=args.home))
    test = load_spg("test", spg_classes_for(args.size, args.home), per_class=per_class, home=args.home)
    sketches = read_right(doodlenet, doodlenet.prepare(test))
    fig: dict[str, float | str | bool] = {
        "quick": not args.size.is_full,
        "threads": torch.get_num_threads(),
        "attack_sketches": len(sketches),
        "attack_sketches_read_right_share": len(sketches) / len(test),
    }

    # Removal, untargeted, every ordering but exact Shapley.
    runs = removal_run(doodlenet, sketches, ORDERINGS)
    fig.update(removal_figures("attack_remove_success", runs))
    best = best_of(fig, "attack_remove_success", ORDERINGS)
    fig["attack_remove_best_method"] = best
    for k in (1, 2, 3):
        fig[f"attack_remove_success_k{k}_best"] = fig[f"attack_remove_success_k{k}_{best}"]

    # The exact Shapley block: small sketches, every ordering on the same ones.
    small = [s for s in sketches if s.n_strokes <= args.shapley_max][:shapley_n]
    small_runs = removal_run(doodlenet, small, [*ORDERINGS, "shapley"])
    fig.update(removal_figures("attack_remove_small_success", small_runs))
    fig["attack_remove_small_sketches"] = len(small)
    fig["attack_remove_small_max_strokes"] = args.shapley_max
    fig["attack_remove_small_best_method"] = best_of(
        fig, "attack_remove_small_success", [*ORDERINGS, "shapley"]
    )

    # Targeted removal toward a random other SPG class.
    classes = spg_classes(args.home)
    gen = torch.Generator().manual_seed(0)
    goals = []
    for s in sketches:
        others = [c for c in classes if normalise_class_name(c) != normalise_class_name(s.label)]
        goals.append(
            class_index(others[int(torch.randint(len(others), (1,), generator=gen))], doodlenet.class_names)
        )
    targeted = removal_run(doodlenet, sketches, TARGETED, torch.tensor(goals))
    fig.update(removal_figures("attack_targeted_success", targeted))

    # Geometry.
    geometry = {}
    for eps in EPSILONS:
        tag = f"eps{round(eps * 100):02d}"
        for sel in SELECTIONS:
            g = geometry_run(doodlenet, sketches, eps, sel)
            geometry[(eps, sel)] = g
            fig[f"attack_perturb_success_{tag}_{sel}"] = float(g["fooled"].float().mean())
            fig[f"attack_perturb_in_attack_success_{tag}_{sel}"] = float(g["in_attack"].float().mean())
            fig[f"attack_perturb_points_moved_{tag}_{sel}"] = float(g["moved"].mean())
            fig[f"attack_perturb_displacement_{tag}_{sel}"] = float(g["displacement"].mean())

    # Transfer: DoodleNet's attacked drawings to the stroke transformer, and back.
    for (eps, sel), name in (((0.05, "psla"), "perturb_eps05_psla"), ((0.05, "all"), "perturb_eps05_all")):
        g = geometry[(eps, sel)]
        pairs = [(s, a) for s, a, ok in zip(sketches, g["attacked"], g["fooled"].tolist(), strict=True) if ok]
        rate, n = transfer_rate(transformer, pairs)
        fig[f"attack_transfer_{name}_dn_to_st"] = rate
        fig[f"attack_transfer_{name}_dn_to_st_n"] = n
    fig["attack_transfer_rate"] = fig["attack_transfer_perturb_eps05_psla_dn_to_st"]
    fig["attack_transfer_removal_dn_to_st"] = transfer_rate(transformer, runs[best]["pairs"])[0]
    st_sketches = read_right(transformer, transformer.prepare(test))
    st_runs = removal_run(transformer, st_sketches, ST_ORDERINGS)
    fig.update(removal_figures("attack_st_remove_success", st_runs))
    st_best = best_of(fig, "attack_st_remove_success", ST_ORDERINGS)
    fig["attack_st_remove_best_method"] = st_best
    fig["attack_transfer_removal_st_to_dn"] = transfer_rate(doodlenet, st_runs[st_best]["pairs"])[0]
    fig["attack_seconds"] = time.perf_counter() - started
    report(console, fig, runs, small_runs)
    write_figures(args.json, dict(sorted(fig.items())))


def report(console: Console, fig: dict, runs: dict, small_runs: dict) -> None:
    table = Table(title=f"Removal attack on DoodleNet, {fig['attack_sketches']} SPG test sketches read right")
    for col in (
        "ordering",
        "within 1",
        "within 2",
        "within 3",
        "ink removed",
        "evals/sketch",
        "fooled afresh",
        f"within 2, <= {fig['attack_remove_small_max_strokes']} strokes",
        "targeted within 3",
    ):
        table.add_column(col, justify="left" if col == "ordering" else "right")
    for name in [*ORDERINGS, "shapley"]:
        row = [name]
        if name in runs:
            row += [f"{fig[f'attack_remove_success_k{k}_{name}']:.3f}" for k in (1, 2, 3)]
            row += [
                f"{fig[f'attack_remove_success_ink_{name}']:.3f}",
                f"{fig[f'attack_remove_success_evaluations_{name}']:.1f}",
                f"{fig[f'attack_remove_success_reread_{name}']:.3f}",
            ]
        else:
            row += ["-"] * 6
        row.append(f"{fig[f'attack_remove_small_success_k2_{name}']:.3f}")
        key = f"attack_targeted_success_k3_{name}"
        row.append(f"{fig[key]:.3f}" if key in fig else "-")
        table.add_row(*row)
    console.print(table)
    geo = Table(title="Geometry attack on DoodleNet (success: the attacked drawing read afresh)")
    for col in ("eps", "pieces", "success", "in attack", "points moved", "mean displacement / diagonal"):
        geo.add_column(col, justify="right")
    for eps in EPSILONS:
        tag = f"eps{round(eps * 100):02d}"
        for sel in SELECTIONS:
            geo.add_row(
                f"{eps:g}",
                sel if sel == "all" else f"3 {sel}",
                f"{fig[f'attack_perturb_success_{tag}_{sel}']:.3f}",
                f"{fig[f'attack_perturb_in_attack_success_{tag}_{sel}']:.3f}",
                f"{fig[f'attack_perturb_points_moved_{tag}_{sel}']:.1f}",
                f"{fig[f'attack_perturb_displacement_{tag}_{sel}']:.4f}",
            )
    console.print(geo)
    tr = Table(title="Transfer (share fooled among drawings the other model read right)")
    tr.add_column("attack")
    tr.add_column("rate", justify="right")
    for key in (
        "perturb_eps05_psla_dn_to_st",
        "perturb_eps05_all_dn_to_st",
        "removal_dn_to_st",
        "removal_st_to_dn",
    ):
        tr.add_row(key, f"{fig[f'attack_transfer_{key}']:.3f}")
    console.print(tr)
    best = fig["attack_remove_best_method"]
    verdicts = Table(title="Targets of issue 12 (attacks)")
    for col in ("target", "measured", "status"):
        verdicts.add_column(col)
    k2b, k2r, k2l = (fig[f"attack_remove_success_k2_{n}"] for n in ("best", "random", "length"))
    verdicts.add_row(
        f"best ordering ({best}) >= 2x random within 2",
        f"{k2b:.3f} vs {k2r:.3f} ({k2b / max(k2r, 1e-9):.2f}x)",
        _met(k2b >= 2 * k2r),
    )
    verdicts.add_row("best ordering > length within 2", f"{k2b:.3f} vs {k2l:.3f}", _met(k2b > k2l))
    for tag in ("eps01", "eps02", "eps05"):
        p, r = fig[f"attack_perturb_success_{tag}_psla"], fig[f"attack_perturb_success_{tag}_random"]
        verdicts.add_row(f"P-SLA pieces beat random pieces, {tag}", f"{p:.3f} vs {r:.3f}", _met(p > r))
    p05 = fig["attack_perturb_success_eps05_psla"]
    verdicts.add_row("P-SLA geometry attack >= 0.8 at eps 0.05", f"{p05:.3f}", _met(p05 >= 0.8))
    console.print(verdicts)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


if __name__ == "__main__":
    try:
        main()
    except StrokelensError as exc:
        raise SystemExit(f"error: {exc}") from None
