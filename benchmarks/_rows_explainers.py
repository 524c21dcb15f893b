"""Figure-table rows of the game cache and the learned explainers' benchmarks."""

from __future__ import annotations

from _figure_cells import Row
from _figure_cells import join as _join
from _figure_cells import number as _n

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


EXPLAINER_ROWS: dict[str, list[Row]] = {
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
}
