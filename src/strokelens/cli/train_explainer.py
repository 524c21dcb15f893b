"""`strokelens train explainer --model NAME|PATH|module:factory --data NAME|FILE|FOLDER ... --out DIR`:
train a learned explainer for any model the other commands take, on any data its reader takes.

The data are split into training, validation and held-out inputs (`strokelens.training.user_data`);
a ``fastshap`` explainer regresses on exact Shapley values where drawings have few strokes
(`strokelens.explainers.labels`) and is then measured on the held-out drawings against exact Shapley
values, beside occlusion and stroke length (`strokelens.explainers.heldout`). ``DIR`` gets
``explainer.safetensors`` and ``explainer.json`` (what it is for: the model's name and fingerprint),
``model.json`` (how ``--model`` named the model) and ``training.json`` (the record); ``explain`` and
``evaluate`` take ``--weights DIR``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from strokelens.cli.options import device_option, model_options, quiet_option, threads_option
from strokelens.methods import learned_methods
from strokelens.scores import SCORES
from strokelens.training.user_data import NAMED, spread


@click.command("explainer")
@model_options(default=None, help="The frozen model to explain (required).")
@click.option(
    "--kind", type=click.Choice(learned_methods()), required=True, help="Mask or Shapley explainer."
)
@click.option(
    "--data",
    "data_entries",
    multiple=True,
    help=f"Training data, repeatable: a data set ({', '.join(sorted(NAMED))}: its own train/val/test "
    "splits), a file the model's reader takes, or a folder of them (split per class by --seed, "
    "--val-share and --test-share). Default: quickdraw-spg for sketch models, imagenet-samples for "
    "photo models. Targets are the model's own predictions.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for explainer.safetensors, explainer.json, model.json and training.json.",
)
@click.option(
    "--units", type=click.Choice(["stroke", "piece"]), default=None, help="Sketch units (default: stroke)."
)
@click.option(
    "--score",
    type=click.Choice(SCORES),
    default="logit",
    show_default=True,
    help="Score space of the fastshap values.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Most epochs.")
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Stop after this many epochs without a better validation loss.",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=18.0,
    show_default=True,
    help="Stop at the step that passes this much training time (the cosine schedule ends there).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Default: 64 (sketches), 16 (photos)."
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=2e-3,
    show_default=True,
    help="Peak learning rate (cosine to 0 over the epochs or --max-minutes).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Train on this many training inputs (evenly spaced; validation cut to a fifth) for a quick run.",
)
@click.option(
    "--pairs",
    type=click.IntRange(min=1),
    default=None,
    help="fastshap: kernel coalition pairs per unlabelled input and step. Default: 8 (sketches), 4 "
    "(photos, where each one is a full Tiny Darknet pass).",
)
@click.option(
    "--label-units",
    type=click.IntRange(0, 16),
    default=12,
    show_default=True,
    help="fastshap on sketches: exact Shapley labels (2^K evaluations) for drawings of at most this "
    "many units; larger ones train on FastSHAP's objective. 0: no labels (and no held-out figures).",
)
@click.option(
    "--permutations",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="fastshap on sketches: label the drawings above --label-units too, with unbiased estimates from "
    "this many antithetic stroke permutations, and train by regression on the labels alone (stochastic "
    "amortization). 0: the larger drawings train on FastSHAP's objective.",
)
@click.option(
    "--label-cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --permutations: a folder where labels are kept with their cost and reused by later runs "
    "and seeds (one file per model and label settings).",
)
@click.option(
    "--model-features",
    default=None,
    help="fastshap on sketches, with --permutations: read the frozen model's own features in one pass "
    "(one evaluation a drawing): 'doodlenet' (its layers), or FEATURE,LAYERS:EMBEDDING:HEAD of a TF.js "
    "graph model (feature maps pooled along each stroke's ink, the class head's input and the linear "
    "class head the values are read out through).",
)
@click.option(
    "--model-gradient",
    is_flag=True,
    help="With --model-features: also read the explained class's logit gradient w.r.t. each stroke's "
    "presence, from the backward of the same pass (one evaluation a drawing, as SLA counts it).",
)
@click.option(
    "--ensemble",
    type=click.IntRange(min=1),
    default=None,
    help="fastshap on sketches: members of the head ensemble whose spread is each explanation's "
    "uncertainty (default 3; 1 elsewhere).",
)
@click.option(
    "--subtract-empty/--no-subtract-empty",
    default=None,
    help="Photo explainers: read each superpixel's share of the class map minus its share of the empty "
    "photo's (every superpixel at the view's baseline; one more feature pass, which also gives "
    "v(empty)). Default: on, as measured (docs/explainers.md).",
)
@click.option(
    "--val-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1, show_default=True
)
@click.option("--test-share", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True)
@click.option(
    "--heldout",
    type=click.IntRange(min=0),
    default=300,
    show_default=True,
    help="Held-out drawings the record measures (evenly spaced over the test split; 0: none).",
)
@click.option(
    "--area-weight",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="wys: weight lambda_a of the area bound (the paper's default is 1).",
)
@click.option(
    "--other-mask-weight",
    type=click.FloatRange(min=0),
    default=0.3,
    show_default=True,
    help="wys: weight of the other classes' masks (their largest, per unit) kept small (the paper's "
    "0.3); with the class gate most of them are empty already.",
)
@click.option(
    "--entropy-weight",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="wys: weight lambda_e of the model's negative entropy on what the mask leaves out (the paper's 1).",
)
@click.option(
    "--init",
    "init_weights",
    default=None,
    help="Fine-tune: start from these explainer weights for the same model, kind and units (shipped, "
    "or a folder `train explainer --out` wrote) rather than a fresh network.",
)
@click.option(
    "--deletion-weight",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="wys: weight of a soft deletion curve, the target probability left once the mask's top units "
    "(a random number of them) are removed; 0 trains the paper's objective alone.",
)
@click.option(
    "--ranking-weight",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="wys on sketches: weight of a pairwise ranking term that teaches the explained class's mask "
    "the order of its exact Shapley values (labels as for fastshap: --label-units, --permutations, "
    "--label-cache); 0: no labels.",
)
@click.option(
    "--class-gate/--no-class-gate",
    default=None,
    help="wys on sketches: multiply each class's mask odds by the model's probability of that class on "
    "the whole drawing (no extra evaluation), so classes the model sees no evidence of get empty masks. "
    "Default: on, as measured (docs/explainers.md).",
)
@click.option(
    "--min-area", type=click.FloatRange(0, 1), default=0.05, show_default=True, help="wys: area bound."
)
@click.option(
    "--max-area", type=click.FloatRange(0, 1), default=0.3, show_default=True, help="wys: area bound."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Training and the data split.")
@threads_option
@device_option
@quiet_option
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with the named data sets in data/ (default: $STROKELENS_HOME).",
)
def explainer(
    model_spec,
    kind: str,
    data_entries: tuple[str, ...],
    out_dir: Path,
    units: str | None,
    score: str,
    epochs: int,
    patience: int,
    max_minutes: float,
    batch_size: int | None,
    lr: float,
    limit: int | None,
    pairs: int | None,
    label_units: int,
    permutations: int,
    label_cache: Path | None,
    model_features: str | None,
    model_gradient: bool,
    ensemble: int | None,
    subtract_empty: bool | None,
    val_share: float,
    test_share: float,
    heldout: int,
    area_weight: float,
    other_mask_weight: float,
    entropy_weight: float,
    init_weights: str | None,
    deletion_weight: float,
    ranking_weight: float,
    class_gate: bool | None,
    min_area: float,
    max_area: float,
    seed: int,
    threads: int | None,
    device: str | None,
    quiet: bool,
    home: Path | None,
) -> None:
    """Train a wys or fastshap explainer for a frozen model; prints the training summary as JSON."""
    import torch

    from strokelens.attribution.shapley import MAX_EXACT_UNITS
    from strokelens.errors import StrokelensError
    from strokelens.explainers import Explainer, TrainConfig, train_explainer
    from strokelens.explainers.amortized import AmortizedConfig, train_amortized
    from strokelens.explainers.explainer import FOLDER_STEM, NETWORKS, model_fingerprint
    from strokelens.explainers.explainer_kinds import explainer_kind
    from strokelens.explainers.heldout import heldout_report
    from strokelens.explainers.labels import LabelCache, LabelSpec, estimate_labels, exact_labels
    from strokelens.explainers.networks import feature_layers
    from strokelens.explainers.objectives import WysWeights
    from strokelens.training.user_data import load_training_data
    from strokelens.views.loader import ViewLoader

    start = time.perf_counter()
    if model_spec is None:
        raise StrokelensError("--model is required: a shipped model's name, a model file or module:factory")
    if threads is not None:
        torch.set_num_threads(threads)
    view = ViewLoader(model_spec, home, device)()
    reader, sketches = view.kind.files, view.kind.sketches
    if reader.word not in NETWORKS:
        raise StrokelensError(f"no learned explainer network for {reader.words} (only {', '.join(NETWORKS)})")
    if not sketches and units is not None:
        raise StrokelensError("--units is for sketch models; photo explainers score superpixels")
    if sketches and subtract_empty is not None:
        raise StrokelensError("--subtract-empty is for photo explainers (a sketch's empty input is blank)")
    masks = explainer_kind(kind).gives_masks  # wys; else fastshap's values
    fastshap_sketches = sketches and not masks
    if class_gate is not None and not (sketches and masks):
        raise StrokelensError("--class-gate shapes the masks of wys explainers of sketch models")
    if (deletion_weight > 0 or ranking_weight > 0) and not masks:
        raise StrokelensError("--deletion-weight and --ranking-weight weigh terms of the wys objective")
    ranked = sketches and masks and ranking_weight > 0
    if ranking_weight > 0 and not ranked:
        raise StrokelensError("--ranking-weight is for wys explainers of sketch models")
    if ranked and label_units < 1:
        raise StrokelensError("--ranking-weight learns from Shapley labels: --label-units must be at least 1")
    if ensemble is not None and ensemble > 1 and not fastshap_sketches:
        raise StrokelensError("--ensemble is for fastshap explainers of sketch models")
    entries = data_entries or tuple(name for name, (files, _) in NAMED.items() if files is reader)
    splits = load_training_data(
        entries, reader, view.class_names, model_spec.name, home, val_share, test_share, seed
    )
    train_set, val_set = splits.train, splits.val
    if limit is not None and limit < len(train_set):
        step = len(train_set) / limit
        train_set = [train_set[int(i * step)] for i in range(limit)]
        val_set = val_set[: max(1, limit // 5)]
    test_set = spread(splits.test, heldout)
    amortized = fastshap_sketches and permutations > 0
    if (permutations or label_cache) and not (fastshap_sketches or ranked):
        raise StrokelensError("--permutations and --label-cache label sketches: fastshap or --ranking-weight")
    if model_features and not fastshap_sketches:
        raise StrokelensError("--model-features is for fastshap on sketches")
    if (model_features or label_cache) and not permutations:
        raise StrokelensError("--model-features and --label-cache train on labels: give --permutations too")
    if model_gradient and not model_features:
        raise StrokelensError(
            "--model-gradient reads the gradient beside the model's features: give --model-features"
        )
    if amortized and label_units < 1:
        raise StrokelensError("--permutations trains on labels: --label-units must be at least 1")
    net_options: dict = {"ensemble": ensemble or 3} if fastshap_sketches else {}
    if not sketches:
        net_options["subtract_empty"] = subtract_empty is not False
    elif masks:
        net_options["class_gate"] = class_gate is not False
    if model_features:
        net_options.update(feature_layers(model_features), read_gradient=model_gradient)
    started_from = None  # the weights fine-tuned from, with their training record
    if init_weights is None:
        made = Explainer.create(view, kind, model_spec.name, units=units, score=score, **net_options)
    elif model_features or ensemble is not None or class_gate is not None or subtract_empty is not None:
        raise StrokelensError(
            "--init keeps the network it starts from: drop --model-features, --ensemble, --class-gate "
            "and --subtract-empty"
        )
    else:
        made = Explainer.from_weights(view, kind, init_weights, units, score)
        started_from = {"weights": init_weights, "training": dict(made.info.training)}
    labelled = fastshap_sketches and label_units > 0
    labels = {}
    if permutations:  # fastshap's amortized training or the wys ranking term: estimates above the exact
        spec = LabelSpec(
            exact_units=min(label_units, MAX_EXACT_UNITS),
            permutations=permutations,
            max_units=64,
            units=made.info.units,
            score=score,
            seed=seed,
        )
        cache = None if label_cache is None else LabelCache(label_cache, model_fingerprint(view.model), spec)
        for name, inputs in (("train", train_set), ("val", val_set)):
            labels[name] = estimate_labels(view, inputs, spec, cache)
    elif labelled or ranked:
        for name, inputs in (("train", train_set), ("val", val_set)):
            labels[name] = exact_labels(view, inputs, made.info.units, score, label_units)
    if labelled:  # the held-out report's references
        labels["test"] = exact_labels(view, test_set, made.info.units, score, label_units)
    if amortized:
        record = train_amortized(
            view,
            made,
            train_set,
            labels["train"],
            val_set,
            labels["val"],
            AmortizedConfig(
                epochs=epochs,
                batch_size=batch_size or 64,
                lr=lr,
                patience=patience,
                seed=seed,
                max_minutes=max_minutes,
            ),
            not quiet,
        )
    else:
        config = TrainConfig(
            epochs=epochs,
            batch_size=batch_size or (64 if sketches else 16),
            lr=lr,
            patience=patience,
            seed=seed,
            max_minutes=max_minutes,
            pairs=pairs or (8 if sketches else 4),
            wys=WysWeights(
                area=area_weight,
                entropy=entropy_weight,
                other_mask=other_mask_weight,
                deletion=deletion_weight,
                ranking=ranking_weight,
                min_area=min_area,
                max_area=max_area,
            ),
        )
        record = train_explainer(
            view, made, train_set, val_set, config, not quiet, labels.get("train"), labels.get("val")
        )
    info = {
        **splits.summary(),
        "n_train_inputs": len(train_set),
        "n_val_inputs": len(val_set),
        "limit": limit,
        "fine_tuned_from": started_from,
        "explanation_evaluations": made.evaluations,
    }
    info["labels"] = {name: lab.summary() for name, lab in labels.items()}
    info["label_evaluations"] = sum(lab.evaluations for lab in labels.values())
    info["label_seconds"] = round(sum(lab.seconds for lab in labels.values()), 1)
    if labelled and test_set:
        info["heldout"] = heldout_report(view, made, test_set, labels["test"])
    info["total_wall_seconds"] = round(time.perf_counter() - start, 1)
    made.info.training.update(info)
    made.save(out_dir, FOLDER_STEM)
    fitted = {**model_spec.describe(), "fingerprint": model_fingerprint(view.model)}
    fitted["classes"] = list(map(str, view.class_names))
    (out_dir / "model.json").write_text(json.dumps(fitted, indent=2) + "\n")
    (out_dir / "training.json").write_text(json.dumps(made.info.training, indent=2) + "\n")
    summary = {
        "weights": str(out_dir),
        "epochs_run": record.epochs_run,
        "best_epoch": record.best_epoch,
        f"best_{record.score}": None if record.best_score is None else round(record.best_score, 5),
        "stopped": record.stopped,
        "wall_seconds": record.wall_seconds,
        "label_evaluations": info["label_evaluations"],
        "total_wall_seconds": info["total_wall_seconds"],
        **{
            f"heldout_{k}": v
            for k, v in info.get("heldout", {}).items()
            if "spearman" in k or "deletion" in k
        },
    }
    click.echo(json.dumps(summary))
