"""The rows of the figure tables: for each benchmark's result file, what its rows say and which of its
figures they show (`ROWS`, used by ``benchmarks/figures.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

Figures = Mapping[str, object]
Row = tuple[str, Callable[[Figures], str]]


def number(value: object, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals."""
    return f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


#: The rows' short name for `number`.
_n = number


def _join(figures: Figures, pattern: str, names: tuple[str, ...], digits: int = 3) -> str:
    """``pattern.format(name)`` for every name, as numbers joined by `` / ``."""
    return " / ".join(_n(figures[pattern.format(name)], digits) for name in names)


#: Rows of `benchmarks/explainer_transfer.py`'s result files (one a public model).
_TRANSFER_ROWS: list[Row] = [
    (
        "fastshap from `train explainer` for a public model not shipped ({model}), "
        "{n_heldout} held-out quickdraw-345x25 drawings: Spearman vs exact Shapley, "
        "fastshap (evaluations a drawing: {explainer_evaluations}) / occlusion / length; deletion AUC",
        lambda f: (
            _join(f, "{}_spearman_vs_shapley", ("explainer", "occlusion", "length"), 2)
            + "; "
            + _join(f, "{}_deletion_auc", ("explainer", "occlusion", "length"), 3)
        ),
    ),
    (
        "its occlusion fallback: least certain 25% / a random 25% (Spearman), evaluations a drawing "
        "(the explainer's and occlusion's); "
        "minutes from the command's start, labels included",
        lambda f: (
            f"{_n(f['fallback_25pct_spearman_vs_shapley'], 2)} / "
            f"{_n(f['fallback_25pct_random_spearman_vs_shapley'], 2)}, "
            f"{_n(float(f['explainer_evaluations']) + float(f['fallback_25pct_evaluations']), 2)}; "  # type: ignore[arg-type]
            f"{_n(f['total_minutes'], 1)} min"
        ),
    ),
]


#: file stem -> rows of (what, figure from that file's figures).
ROWS: dict[str, list[Row]] = {
    "io_speed": [
        (
            "reading sketch files (median of {repeat} passes)",
            lambda f: (
                f"SPG ndjson.gz {_n(f['spg_sketches_per_s'])} sketches/s, QuickDraw simplified "
                f"ndjson {_n(f['qd345_sketches_per_s'])}, stroke-3 npz {_n(f['npz_sketches_per_s'])}"
            ),
        ),
    ],
    "render_speed": [
        (
            "rasteriser, forward + backward, batch 256 ({threads} threads, load average "
            "{load_average_1min_at_start} at start)",
            lambda f: (
                f"{_n(f['fwd_bwd_28_b256_per_s'])} sketches/s at 28x28, "
                f"{_n(f['fwd_bwd_256_b256_per_s'])} at 256x256"
            ),
        ),
        (
            "sparse vs dense rasteriser, forward + backward, same batches",
            lambda f: (
                f"{_n(f['speedup_vs_dense_28'], 1)}x at 28x28 (batches of {f['dense_batch_28']}), "
                f"{_n(f['speedup_vs_dense_256'], 1)}x at 256x256 (batches of {f['dense_batch_256']})"
            ),
        ),
    ],
    "model_accuracy": [
        (
            "DoodleNet top-1, quickdraw-345x25 through the differentiable preset",
            lambda f: (
                f"{_n(f['doodlenet_qd345x25_top1'], 3)} (reference rendering "
                f"{_n(f['doodlenet_qd345x25_top1_reference'], 3)}; {_n(f['doodlenet_qd345x25_n'])} sketches)"
            ),
        ),
        (
            "Tiny Darknet top-1 / top-5, matched ImageNet sample photos",
            lambda f: (
                f"{_n(f['darknet_imagenet_samples_top1'], 3)} / "
                f"{_n(f['darknet_imagenet_samples_top5'], 3)} of {_n(f['darknet_imagenet_samples_n'])}"
            ),
        ),
    ],
    "stroke_transformer_accuracy": [
        (
            "stroke transformer top-1, SPG test / held-out quickdraw-345x25 drawings of the SPG classes",
            lambda f: (
                f"{_n(f['stroke_transformer_spg_test_top1'], 4)} of "
                f"{_n(f['stroke_transformer_spg_test_n'])} / "
                f"{_n(f['stroke_transformer_qd345x25_heldout_top1'], 3)} of "
                f"{_n(f['stroke_transformer_qd345x25_heldout_n'])}"
            ),
        ),
        (
            "`stroke-transformer-mixed` (SPG + quickdraw-345x25 train + quickdraw-extra drawings, "
            "varied augmentation) top-1, "
            "SPG test / held-out quickdraw-345x25",
            lambda f: (
                f"{_n(f['stroke_transformer_mixed_spg_test_top1'], 4)} / "
                f"{_n(f['stroke_transformer_mixed_qd345x25_heldout_top1'], 3)}"
            ),
        ),
        (
            "reference: DoodleNet (trained on all of QuickDraw) top-1 among the SPG classes only, "
            "SPG test / the same held-out quickdraw-345x25 drawings",
            lambda f: (
                f"{_n(f['doodlenet_spg_classes_spg_test_top1'], 4)} / "
                f"{_n(f['doodlenet_spg_classes_qd345x25_heldout_top1'], 3)}"
            ),
        ),
    ],
    "stroke_transformer_candidates": [
        (
            "stroke-transformer candidates, validation only: drawings read right of {qd345_val_n} qd345 "
            "val + {extra_left_n} left-out quickdraw-extra, SPG val top-1; shipped / 32 points + "
            "augmented teacher",
            lambda f: " / ".join(
                f"{_n(f[k + '_other_drawers_correct'])}, {_n(f[k + '_spg_val_top1'], 4)}"
                for k in ("shipped", "points32_teacher_sees_augmented")
            ),
        ),
    ],
    "faithfulness": [
        (
            "SLA vs `lime_image` on DoodleNet, the same {n_reference_sketches} SPG sketches",
            lambda f: (
                f"{_n(f['sla_ms_per_sketch_beside_lime_image'], 2)} ms vs "
                f"{_n(f['lime_image_ms_per_sketch'])} ms a sketch ({_n(f['sla_speedup_vs_lime_image'])}x; "
                f"{_n(f['lime_image_evaluations_per_sketch'])} evaluations a sketch for `lime_image`)"
            ),
        ),
        (
            "median Spearman vs exact Shapley ({shapley_sketches} sketches of <= {max_shapley_units} "
            "strokes): occlusion / IG / SLA",
            lambda f: " / ".join(_n(f[f"{m}_spearman_vs_shapley"], 2) for m in ("occlusion", "ig", "sla")),
        ),
    ],
    "gws_samplers": [
        (
            "gws on photos (the rule's choice: coalitions drawn `{gws_sampler}`, {gws_samples} evaluations, "
            "model calls in {gws_precision}) vs "
            "`lime_image` on Tiny Darknet ({n_photos} test photos, ~{superpixels_mean:.0f} superpixels, "
            "{lime_samples} samples)",
            lambda f: (
                f"Spearman {_n(f['gws_spearman_vs_lime_image'], 2)} (uniform draws in float32, same count: "
                f"{_n(f['gws_uniform_' + str(f['gws_samples']) + '_spearman_vs_lime_image'], 2)} at "
                f"{_n(f['gws_uniform_' + str(f['gws_samples']) + '_speedup_vs_lime_image'])}x), "
                f"{_n(f['gws_speedup_vs_lime_image'])}x faster"
                + (
                    f" ({_n(f['gws_speedup_vs_lime_image_bf16'])}x beside `lime_image` in bfloat16)"
                    if "gws_speedup_vs_lime_image_bf16" in f
                    else ""
                )
                + f"; deletion AUC {_n(f['gws_deletion_auc'], 3)} vs {_n(f['lime_image_deletion_auc'], 3)}"
            ),
        ),
    ],
    "superpixels": [
        (
            "gws, the best of the variants table (`{gws_variant}`, uniform coalitions) vs `lime_image` on "
            "Tiny Darknet ({n_photos} test photos, "
            "~{superpixels_mean:.0f} superpixels, {lime_samples} samples)",
            lambda f: (
                f"Spearman {_n(f['gws_spearman_vs_lime_image'], 2)} (`lime_image` vs itself, 2nd seed: "
                f"{_n(f['lime_vs_lime_spearman'], 2)}), {_n(f['gws_speedup_vs_lime_image'])}x faster; "
                f"deletion AUC {_n(f['gws_deletion_auc'], 3)} vs {_n(f['lime_image_deletion_auc'], 3)}"
            ),
        ),
        (
            "Grad-CAM summed (1 evaluation) / the gradient at full presence / gws-ig / occlusion vs "
            "`lime_image`, same photos",
            lambda f: (
                f"Spearman {_n(f['gws_gradcam_sum_spearman_vs_lime_image'], 2)} / "
                f"{_n(f['gws_presence_sum_spearman_vs_lime_image'], 2)} / "
                f"{_n(f['gws_ig_spearman_vs_lime_image'], 2)} / "
                f"{_n(f['occlusion_spearman_vs_lime_image'], 2)}"
            ),
        ),
    ],
    "video": [
        (
            "gws (video default: `{video_gws_pixel}`, {video_gws_samples} evaluations) / gws-ig / "
            "occlusion / Grad-CAM gws vs `lime_image`'s approach on Jester clips ({video_clips} clips, "
            "~{video_segments} supervoxels, {video_lime_samples} samples)",
            lambda f: (
                "Spearman "
                + " / ".join(
                    _n(f[f"video_{m}_spearman_vs_lime"], 2)
                    for m in ("gws", "gws_ig", "occlusion", "gws_gradcam")
                )
                + "; speed-up "
                + " / ".join(f"{_n(f[f'video_{m}_speedup_vs_lime'])}x" for m in ("gws", "gws_ig"))
                + "; deletion AUC "
                + " / ".join(_n(f[f"video_{m}_deletion_auc"], 3) for m in ("gws", "gws_ig"))
                + f" (random {_n(f['video_random_deletion_auc'], 3)})"
            ),
        ),
    ],
    "game_cache": [
        (
            "exact Shapley with the game cache off / on ({sketches} SPG sketches, same run; "
            "load average {load_average_1min_at_start} at start)",
            lambda f: "; ".join(
                f"{name} {_n(f[key + '_shapley_ms_uncached'])} / {_n(f[key + '_shapley_ms_cached'])} "
                f"ms a sketch ({_n(f[key + '_shapley_speedup'], 2)}x)"
                for name, key in (("DoodleNet", "doodlenet"), ("stroke transformer", "stroke_transformer"))
            ),
        ),
    ],
    "explainer": [
        (
            "fastshap / occlusion / IG / SLA, DoodleNet, {n_sketches} SPG test sketches never trained on: "
            "median Spearman vs exact Shapley",
            lambda f: " / ".join(
                _n(f[f"{m}_spearman_vs_shapley"], 2) for m in ("fastshap", "occlusion", "ig", "sla")
            ),
        ),
        (
            "deletion AUC (lower is better), same sketches: fastshap / wys / occlusion / shapley / "
            "length / random",
            lambda f: " / ".join(
                _n(f[f"{m}_deletion_auc"], 4)
                for m in ("fastshap", "wys", "occlusion", "shapley", "length", "random")
            ),
        ),
        (
            "fastshap vs SLA, ms a sketch (same run, batches of 32); model evaluations a sketch",
            lambda f: (
                f"{_n(f['fastshap_ms_per_sketch'], 2)} vs {_n(f['sla_ms_per_sketch'], 2)} "
                f"({_n(f['fastshap_ms_ratio_to_sla'], 2)}x); fastshap "
                f"{_n(f['fastshap_evaluations_per_sketch'])}, occlusion "
                f"{_n(f['occlusion_evaluations_per_sketch'], 1)}, exact Shapley "
                f"{_n(f['shapley_evaluations_per_sketch'])}"
            ),
        ),
        (
            "the same on quickdraw-345x25 ({qd_n_sketches} sketches, other drawers and classes) / on the "
            "stroke transformer: fastshap Spearman vs Shapley",
            lambda f: (
                f"{_n(f['qd_fastshap_spearman_vs_shapley'], 2)} (occlusion "
                f"{_n(f['qd_occlusion_spearman_vs_shapley'], 2)})"
                f" / {_n(f['st_fastshap_spearman_vs_shapley'], 2)} (occlusion "
                f"{_n(f['st_occlusion_spearman_vs_shapley'], 2)})"
            ),
        ),
        (
            "`stroke-transformer-mixed`, {stm_n_sketches} SPG test sketches: fastshap Spearman vs Shapley; "
            "deletion AUC fastshap / occlusion / shapley",
            lambda f: (
                f"{_n(f['stm_fastshap_spearman_vs_shapley'], 2)} (occlusion "
                f"{_n(f['stm_occlusion_spearman_vs_shapley'], 2)}); "
                + _join(f, "stm_{}_deletion_auc", ("fastshap", "occlusion", "shapley"))
            ),
        ),
        (
            "wys class specificity, DoodleNet, SPG test: own-class / other-class mean mask; runner-up "
            "class's mask and its rank agreement with the own class's over the strokes",
            lambda f: (
                f"{_n(f['wys_own_mask_mass'], 3)} / {_n(f['wys_other_mask_mass'], 4)} "
                f"({_n(f['wys_class_specificity'], 1)}x); runner-up class "
                f"{_n(f['wys_runner_up_mask_mass'], 3)} ({_n(f['wys_runner_up_specificity'], 2)}x), "
                f"Spearman {_n(f['wys_runner_up_mask_spearman'], 2)}"
            ),
        ),
        (
            "photos, Tiny Darknet, {photo_n_photos} held-out photos at ~{photo_superpixels_mean:.0f} "
            "superpixels: fastshap Spearman vs Shapley; deletion AUC wys / occlusion; fastshap ms a photo",
            lambda f: (
                f"{_n(f['photo_fastshap_spearman_vs_shapley'], 2)} (occlusion "
                f"{_n(f['photo_occlusion_spearman_vs_shapley'], 2)}); {_n(f['photo_wys_deletion_auc'], 3)} / "
                f"{_n(f['photo_occlusion_deletion_auc'], 3)}; {_n(f['photo_fastshap_ms_per_photo'], 1)}"
            ),
        ),
    ],
    "explainer_transfer": _TRANSFER_ROWS,
    "explainer_transfer_quickdraw15": _TRANSFER_ROWS,
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
ROWS["gws_samplers_rerun"] = ROWS["gws_samplers"]  # the same command run again (the choice's stability)
