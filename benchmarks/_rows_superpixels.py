"""Figure-table rows of the photo and video superpixel benchmarks."""

from __future__ import annotations

from _figure_cells import Row
from _figure_cells import number as _n

SUPERPIXEL_ROWS: dict[str, list[Row]] = {
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
}
#: The same command run again (the choice's stability).
SUPERPIXEL_ROWS["gws_samplers_rerun"] = SUPERPIXEL_ROWS["gws_samplers"]
