"""Figure-table rows of the downstream uses: retrieval, generation, the drawing page, dataset jobs,
stroke analyses, inversion and attacks."""

from __future__ import annotations

from _figure_cells import Row
from _figure_cells import join as _join
from _figure_cells import number as _n

USE_ROWS: dict[str, list[Row]] = {
    "retrieval": [
        (
            "sketch retrieval, {n_queries} SPG test queries, gallery of {gallery_size} (quickdraw-345x25 + "
            "SPG test, a query's own drawing excluded): mAP / P@10",
            lambda f: (
                f"DoodleNet {_n(f['retrieval_map_doodlenet'], 3)} / {_n(f['retrieval_p10_doodlenet'], 3)}; "
                f"stroke transformer {_n(f['retrieval_map_stroke_transformer'], 3)} / "
                f"{_n(f['retrieval_p10_stroke_transformer'], 3)}"
            ),
        ),
        (
            "explaining top-1 matches ({faith_queries} queries of <= {max_strokes_explained} strokes), "
            "deletion AUC of similarity: shapley / occlusion / ig / sla / length / random",
            lambda f: "; ".join(
                f"{name} "
                + " / ".join(
                    _n(f[f"retrieval_deletion_auc_{m}{suffix}"], 3)
                    for m in ("shapley", "occlusion", "ig", "sla", "length", "random")
                )
                for name, suffix in (("DoodleNet", ""), ("stroke transformer", "_stroke_transformer"))
            ),
        ),
        (
            "median gallery rank of the match after deleting the query's top 1 / top 2 strokes: "
            "shapley vs random",
            lambda f: "; ".join(
                f"{name} {_n(f[f'retrieval_rank_after_top1_shapley{s}'])} / "
                f"{_n(f[f'retrieval_rank_after_top2_shapley{s}'])} vs "
                f"{_n(f[f'retrieval_rank_after_top1_random{s}'])} / "
                f"{_n(f[f'retrieval_rank_after_top2_random{s}'])}"
                for name, s in (("DoodleNet", ""), ("stroke transformer", "_stroke_transformer"))
            ),
        ),
    ],
    "generation": [
        (
            "sketch completion, {n_test} SPG test drawings with 30-60 % of strokes removed: IoU of the "
            "generated ink vs the removed strokes' ink / vs the whole drawing",
            lambda f: (
                f"{_n(f['generation_iou'], 3)} (best naive baseline {_n(f['generation_iou_baseline'], 3)}) / "
                f"{_n(f['generation_iou_full'], 3)} "
                f"(the input as it is {_n(f['generation_iou_full_baseline'], 3)})"
            ),
        ),
        (
            "which input strokes produce a generated region ({generation_explained_sketches} drawings): "
            "deletion AUC, best method / random (lower is better)",
            lambda f: (
                f"{f['generation_best_method']} {_n(f['generation_deletion_auc_best'], 4)} / "
                f"{_n(f['generation_deletion_auc_random'], 4)} (lower on "
                f"{_n(100 * f['generation_best_beats_random_share'])} % of drawings)"
            ),
        ),
    ],
    "serve_latency": [
        (
            "strokelens serve, DoodleNet, {serve_clients} concurrent clients over loopback, {serve_requests} "
            "predict + explain requests (load average {load_average_1m_at_start} at start, {cpu_count} CPUs)",
            lambda f: (
                f"p50 {_n(f['serve_p50_ms'])} ms, p95 {_n(f['serve_p95_ms'])} ms, "
                f"{_n(f['serve_errors'])} errors; assist p95 {_n(f['serve_assist_p95_ms'])} ms; malformed "
                f"requests answered with their 4xx: {_n(f['serve_bad_requests_handled'])} of "
                f"{_n(f['serve_bad_requests_sent'])}"
            ),
        ),
    ],
    "assist": [
        (
            "assist: drawings each model misreads (SPG test + quickdraw-345x25; DoodleNet "
            "{assist_drawings_doodlenet}, stroke transformer {assist_drawings_stroke_transformer}), first "
            "suggestion read as the class meant with >= 70% ink kept: DoodleNet / stroke transformer",
            lambda f: (
                f"{_n(f['assist_success_doodlenet'], 2)} / {_n(f['assist_success_stroke_transformer'], 2)}; "
                f"ink kept median {_n(f['assist_ink_kept_median'], 2)}; baselines (random strokes removed / "
                f"random pieces moved / the ghost) "
                + " and ".join(
                    " / ".join(
                        _n(f[f"assist_baseline_{b}_{m}"], 2)
                        for b in ("random_remove", "random_move", "ghost")
                    )
                    for m in ("doodlenet", "stroke_transformer")
                )
            ),
        ),
    ],
    "dataset_job": [
        (
            "`strokelens explain --out` over {job_sketches} SPG sketches, SLA on DoodleNet, whole command "
            "({job_shards} shards, load average {load_average_start} at start)",
            lambda f: (
                f"{_n(f['job_sla_sketches_per_s'])} sketches/s vs an in-process read-prepare-SLA loop "
                f"{_n(f['baseline_sketches_per_s'])} (efficiency {_n(f['job_efficiency'], 2)}); killed "
                f"{f['job_resume_kills_landed']}x with SIGKILL "
                f"and resumed: {f['job_resume_rows_lost']} rows lost, {f['job_resume_rows_duplicated']} "
                f"duplicated, scores equal {'yes' if f['job_resume_rows_equal'] else 'NO'}; Ray (2 actors) "
                f"{_n(f['ray_job_sketches_per_s'])} sketches/s, rows equal "
                f"{'yes' if f['ray_rows_equal'] else 'NO'}"
            ),
        ),
    ],
    "stroke_components": [
        (
            "what a stroke carries, {n_sketches:,} SPG test sketches, {n_seeds} disturbance seeds: stroke "
            "transformer top-1 intact / order shuffled / locations randomised / shapes straightened",
            lambda f: _join(
                f, "st_top1_{}", ("intact", "order_shuffled", "location_randomised", "shape_straightened")
            ),
        ),
        (
            "the same for DoodleNet over the 20 SPG classes: intact / locations randomised / shapes "
            "straightened (order n/a: a raster model sees ink, not drawing order)",
            lambda f: _join(f, "doodlenet_top1_{}", ("intact", "location_randomised", "shape_straightened")),
        ),
        (
            "mean Shapley share of each drawing's explanation: stroke transformer shape / order / "
            "location; DoodleNet shape / location",
            lambda f: (
                _join(f, "st_share_{}", ("shape", "order", "location"))
                + "; DoodleNet "
                + _join(f, "doodlenet_share_{}", ("shape", "location"))
            ),
        ),
    ],
    "sla_variants": [
        (
            "SLA variants (score x presence x composition x P-SLA) on DoodleNet ({n_sketches} SPG test "
            "sketches, Shapley on {shapley_sketches})",
            lambda f: (
                f"best by Spearman vs Shapley `{f['best_variant_by_spearman']}` "
                f"{_n(f['best_variant_spearman_vs_shapley'], 2)}; best deletion AUC "
                f"`{f['best_variant_by_deletion']}` {_n(f['best_deletion_variant_deletion_auc'], 3)} "
                f"(sla {_n(f['sla_deletion_auc'], 3)}; stroke length {_n(f['length_deletion_auc'], 3)}, "
                f"Spearman {_n(f['length_spearman_vs_shapley'], 2)})"
            ),
        ),
    ],
    "inversion": [
        (
            "stroke location recovery, stroke transformer / DoodleNet (smaller steps)",
            lambda f: (
                f"{_n(f['stroke_transformer_recovery_rate_after'], 4)} / "
                f"{_n(f['doodlenet_tuned_recovery_rate_after'], 4)} of {_n(f['n_sketches'])} sketches"
            ),
        ),
    ],
    "attack": [
        (
            "removal attack, DoodleNet, {attack_sketches} SPG test sketches it reads right: flipped within "
            "2 removed strokes, best ordering ({attack_remove_best_method}) / length / random",
            lambda f: (
                _join(f, "attack_remove_success_k2_{}", ("best", "length", "random"))
                + " (within 1: "
                + _join(f, "attack_remove_success_k1_{}", ("best", "length", "random"))
                + ")"
            ),
        ),
        (
            "geometry attack, DoodleNet, drawings read afresh: fooled at eps 0.02 / 0.05 of the diagonal, "
            "3 P-SLA pieces vs 3 random pieces vs every point",
            lambda f: (
                " vs ".join(
                    _join(f, "attack_perturb_success_{}_" + sel, ("eps02", "eps05"))
                    for sel in ("psla", "random", "all")
                )
                + f" ({_n(f['attack_perturb_points_moved_eps05_psla'], 1)} vs "
                f"{_n(f['attack_perturb_points_moved_eps05_all'], 1)} points moved)"
            ),
        ),
        (
            "transfer: DoodleNet's geometry attack (eps 0.05, P-SLA) / removal attack fool the stroke "
            "transformer; its removal attack fools DoodleNet",
            lambda f: (
                f"{_n(f['attack_transfer_rate'], 3)} / {_n(f['attack_transfer_removal_dn_to_st'], 3)}; "
                f"{_n(f['attack_transfer_removal_st_to_dn'], 3)}"
            ),
        ),
    ],
}
