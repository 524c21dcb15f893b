"""Explained sketch retrieval on real sketches, for DoodleNet and the stroke transformer.

Gallery: quickdraw-345x25 (8,600 sketches, 344 classes) and the SPG test split (2,000 sketches, 20
classes). Queries: SPG test sketches, each excluded from its own results (same ``key_id``: that drops
the query itself and, for 27 of them, the same drawing in quickdraw-345x25). Embeddings: the input of
each model's last linear layer (DoodleNet 512-d, the stroke transformer's 128-d class token), cosine
similarity. Figures: category mAP (AP over the whole ranked gallery) and precision@10 per model, per
category and overall, and top-1 label accuracy.

Faithfulness, on the top-1 match of a seeded sample of queries with 2 to ``--max-strokes`` strokes
(so exact Shapley values, 2^K evaluations, exist for every one, and every method is scored on the same
queries): the deletion AUC of the cosine similarity to the match as the query's strokes are deleted in
each method's order (lower: the explanation found what the similarity rests on), and the median
gallery rank of the match after deleting the query's top 1 / top 2 strokes (higher is better; queries
with no more strokes than are deleted are left out). Methods: sla, ig, occlusion, shapley and the
baselines random and length; the best is the non-baseline with the lowest deletion AUC.

    python benchmarks/retrieval.py --smoke                     # or --quick: under a minute
    python benchmarks/retrieval.py --json benchmarks/results/retrieval.json
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from rich.console import Console
from rich.table import Table

from _common import Size, benchmark_parser, spg_classes_for, write_figures
from strokelens.datasets import load_qd345, load_spg, qd345_classes
from strokelens.games import normalise_class_name
from strokelens.models import load_model
from strokelens.retrieval import (
    build_gallery,
    cosine_similarity,
    deletion_curves,
    embedding_view,
    explain_matches,
    rank_after_deletion,
    retrieval_scores,
    same_item_mask,
    search,
)

MODELS = ("doodlenet", "stroke-transformer")
METHODS = ("sla", "ig", "occlusion", "shapley", "random", "length")
BASELINES = ("random", "length")
#: Queries explained per batch.
BATCH = 32


def key(model: str) -> str:
    return model.replace("-", "_")


def faithfulness(view, queries, q_emb, gallery, top, exclude, suffix: str) -> dict[str, float | str]:
    """Deletion AUC and rank after deleting the top 1 / 2 strokes, per method, on ``queries``' top-1
    matches ``top``; figure names end in ``suffix``."""
    out: dict[str, float | str] = {}
    for method in METHODS:
        aucs, r1, r2 = [], [], []
        start = time.perf_counter()
        expl = explain_matches(view, queries, q_emb, gallery, top, method, both=False, batch_size=BATCH)
        seconds = time.perf_counter() - start
        for b, e in enumerate(expl.query):
            rows = slice(b * BATCH, (b + 1) * BATCH)
            aucs.append(deletion_curves(view, e, gallery.embeddings[top[rows]]).deletion_auc)
            r1.append(rank_after_deletion(view, e, gallery.embeddings, top[rows], 1, exclude[rows]))
            r2.append(rank_after_deletion(view, e, gallery.embeddings, top[rows], 2, exclude[rows]))
        out[f"retrieval_deletion_auc_{method}{suffix}"] = round(float(torch.cat(aucs).mean()), 4)
        out[f"retrieval_rank_after_top1_{method}{suffix}"] = float(torch.cat(r1).nanmedian())
        out[f"retrieval_rank_after_top2_{method}{suffix}"] = float(torch.cat(r2).nanmedian())
        out[f"retrieval_rank_after_top1_mean_{method}{suffix}"] = round(float(torch.cat(r1).nanmean()), 1)
        out[f"retrieval_rank_after_top2_mean_{method}{suffix}"] = round(float(torch.cat(r2).nanmean()), 1)
        out[f"retrieval_ms_per_query_{method}{suffix}"] = round(1000 * seconds / len(queries), 2)
    best = min(
        (m for m in METHODS if m not in BASELINES), key=lambda m: out[f"retrieval_deletion_auc_{m}{suffix}"]
    )
    out[f"retrieval_best_method{suffix}"] = best
    out[f"retrieval_deletion_auc_best{suffix}"] = out[f"retrieval_deletion_auc_{best}{suffix}"]
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="10 queries a class, 16 explained, <= 8 strokes",
        smoke="2 SPG classes: 3 queries each, gallery of 20 QuickDraw classes x 1 + 6 SPG; 2 explained",
    )
    parser.add_argument(
        "--per-class", type=int, default=None, help="SPG test queries a class (default all 100)"
    )
    parser.add_argument("--faith", type=int, default=200, help="queries whose top-1 match is explained")
    parser.add_argument("--max-strokes", type=int, default=16, help="most strokes of an explained query")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", default=None)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    n = args.size.pick
    per_class = n(full=args.per_class, quick=10, smoke=3)
    n_faith = n(full=args.faith, quick=16, smoke=2)
    max_strokes = n(full=args.max_strokes, quick=min(8, args.max_strokes), smoke=min(6, args.max_strokes))
    t0 = time.perf_counter()
    load = os.getloadavg()[0]

    qd_classes = qd345_classes(args.home)[::17] if args.size is Size.SMOKE else None
    qd = load_qd345(qd_classes, per_class=n(full=None, quick=3, smoke=1), home=args.home)
    spg_classes = spg_classes_for(args.size, args.home)
    spg = load_spg("test", spg_classes, per_class=n(full=None, quick=15, smoke=3), home=args.home)
    raw_gallery = qd + spg
    seen: dict[str, int] = {}  # the first per_class sketches of each SPG class (split order) are queries
    query_rows = []
    for i, s in enumerate(spg):
        seen[s.label] = seen.get(s.label, 0) + 1
        if per_class is None or seen[s.label] <= per_class:
            query_rows.append(len(qd) + i)
    figures: dict[str, float | int | str | bool] = {
        "quick": not args.size.is_full,
        "threads": torch.get_num_threads(),
        "load_average_1min_at_start": round(load, 2),
        "gallery_size": len(raw_gallery),
        "n_queries": len(query_rows),
        "max_strokes_explained": max_strokes,
        "faith_model": "doodlenet and stroke transformer (suffix _stroke_transformer)",
    }
    per_category: dict[str, dict[str, dict[str, float]]] = {}
    for name in MODELS:
        view = embedding_view(load_model(name, home=args.home))
        start = time.perf_counter()
        gallery = build_gallery(view, raw_gallery)
        figures[f"retrieval_embed_ms_per_sketch_{key(name)}"] = round(
            1000 * (time.perf_counter() - start) / len(gallery), 3
        )
        rows = torch.tensor(query_rows)
        queries = [gallery.sketches[r] for r in query_rows]  # prepared and embedded like the gallery
        q_emb = gallery.embeddings[rows]
        exclude = same_item_mask(queries, gallery.sketches)
        sim = cosine_similarity(q_emb, gallery.embeddings)
        labels = [q.label for q in queries]
        scores = retrieval_scores(sim, labels, gallery.labels, exclude, k=10)
        top = search(q_emb, gallery.embeddings, k=1, exclude=exclude).indices[:, 0]
        top1 = [
            normalise_class_name(gallery.sketches[j].label) == normalise_class_name(lab)
            for j, lab in zip(top.tolist(), labels, strict=True)
        ]
        figures[f"retrieval_map_{key(name)}"] = round(scores.map, 4)
        figures[f"retrieval_p10_{key(name)}"] = round(scores.precision, 4)
        figures[f"retrieval_top1_{key(name)}"] = round(sum(top1) / len(top1), 4)
        figures[f"retrieval_excluded_pairs_{key(name)}"] = int(exclude.sum())
        per_category[name] = scores.per_category
        for cat, fig in scores.per_category.items():
            figures[f"retrieval_map_{key(name)}_cat_{cat.replace(' ', '_')}"] = round(fig["map"], 4)
            figures[f"retrieval_p10_{key(name)}_cat_{cat.replace(' ', '_')}"] = round(fig["precision"], 4)

        eligible = [i for i, q in enumerate(queries) if 2 <= q.n_strokes <= max_strokes]
        gen = torch.Generator().manual_seed(args.seed)
        pick = torch.tensor(eligible)[torch.randperm(len(eligible), generator=gen)[:n_faith]].sort().values
        figures["faith_eligible_queries"] = len(eligible)
        figures["faith_queries"] = len(pick)
        figures["faith_mean_strokes"] = round(sum(queries[i].n_strokes for i in pick.tolist()) / len(pick), 2)
        suffix = "" if name == "doodlenet" else f"_{key(name)}"
        figures.update(
            faithfulness(
                view,
                [queries[i] for i in pick.tolist()],
                q_emb[pick],
                gallery,
                top[pick],
                exclude[pick],
                suffix,
            )
        )
    figures["retrieval_beats_random"] = bool(
        figures["retrieval_deletion_auc_best"] < figures["retrieval_deletion_auc_random"]
    )
    figures["wall_seconds"] = round(time.perf_counter() - t0, 1)
    report(figures, per_category, "" if args.size.is_full else f" [--{args.size.value}]")
    write_figures(args.json, figures)


def report(figures: dict, per_category: dict, note: str) -> None:
    console = Console()
    table = Table("category", *(f"{m} mAP" for m in MODELS), *(f"{m} P@10" for m in MODELS))
    table.title = (
        f"retrieval, {figures['n_queries']} SPG test queries, gallery of {figures['gallery_size']}{note}"
    )
    for cat in per_category[MODELS[0]]:
        cells = [f"{per_category[m][cat]['map']:.3f}" for m in MODELS]
        cells += [f"{per_category[m][cat]['precision']:.3f}" for m in MODELS]
        table.add_row(cat, *cells)
    table.add_row(
        "[bold]all[/bold]",
        *(f"[bold]{figures[f'retrieval_map_{key(m)}']:.3f}[/bold]" for m in MODELS),
        *(f"[bold]{figures[f'retrieval_p10_{key(m)}']:.3f}[/bold]" for m in MODELS),
    )
    console.print(table)
    console.print(
        "top-1 label accuracy: " + ", ".join(f"{m} {figures[f'retrieval_top1_{key(m)}']:.3f}" for m in MODELS)
    )
    for name in MODELS:
        suffix = "" if name == "doodlenet" else f"_{key(name)}"
        faith = Table(
            "method",
            "deletion AUC of similarity ↓",
            "median rank after top-1 deleted ↑",
            "median rank after top-2 deleted ↑",
            "mean rank top-1 / top-2 ↑",
            "ms / query",
            title=(
                f"{name}: explaining the top-1 match of {figures['faith_queries']} queries with 2-"
                f"{figures['max_strokes_explained']} strokes (rank 1 = still the best match){note}"
            ),
        )
        for m in METHODS:
            faith.add_row(
                m,
                f"{figures[f'retrieval_deletion_auc_{m}{suffix}']:.4f}",
                f"{figures[f'retrieval_rank_after_top1_{m}{suffix}']:g}",
                f"{figures[f'retrieval_rank_after_top2_{m}{suffix}']:g}",
                f"{figures[f'retrieval_rank_after_top1_mean_{m}{suffix}']:g} / "
                f"{figures[f'retrieval_rank_after_top2_mean_{m}{suffix}']:g}",
                f"{figures[f'retrieval_ms_per_query_{m}{suffix}']:.1f}",
            )
        console.print(faith)
        best, auc = figures[f"retrieval_best_method{suffix}"], figures[f"retrieval_deletion_auc_best{suffix}"]
        rand = figures[f"retrieval_deletion_auc_random{suffix}"]
        verdict = "MET" if auc < rand else "NOT MET"
        console.print(
            f"{name}: target 'Retrieval explanations beat random on deletion' {verdict}: "
            f"best {best} {auc:.4f} vs random {rand:.4f}"
        )
    console.print(
        f"wall time {figures['wall_seconds']} s, "
        f"load average {figures['load_average_1min_at_start']} at start"
    )


if __name__ == "__main__":
    main()
