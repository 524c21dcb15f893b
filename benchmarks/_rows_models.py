"""Figure-table rows of the benchmarks that measure readers, the rasteriser, the models and the
attribution methods against exact Shapley values."""

from __future__ import annotations

from _figure_cells import Row
from _figure_cells import number as _n

MODEL_ROWS: dict[str, list[Row]] = {
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
    "stroke_transformer_accuracy_candidate_points32": [
        (
            "not shipped: the 32-point, augmented-teacher candidate installed as "
            "`stroke-transformer-mixed` in a scratch worktree (docs/cli.md), top-1 SPG test / held-out "
            "quickdraw-345x25; sketches/s",
            lambda f: (
                f"{_n(f['stroke_transformer_mixed_spg_test_top1'], 4)} / "
                f"{_n(f['stroke_transformer_mixed_qd345x25_heldout_top1'], 3)}; "
                f"{_n(f['stroke_transformer_mixed_sketches_per_second'])}"
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
}
