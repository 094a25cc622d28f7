"""The model card: MODEL_CARD.md in a model folder, what a reader needs to know of a model,
in words, from its `config.json` and the metrics on its calibration examples."""

from __future__ import annotations


def model_card(config: dict, metrics: dict) -> str:
    """MODEL_CARD.md of a model folder, from its config and its calibration metrics."""
    cal = metrics["calibration_split"]

    def cell(value: float | None) -> str:  # None: a code neither coded nor predicted (0/0)
        return "n/a" if value is None else f"{value:.2f}"

    rows = "\n".join(
        f"| {c} | {cell(s['precision'])} | {cell(s['recall'])} | {cell(s['f1'])} | {cell(s['kappa'])} | {s['support']} |"
        for c, s in cal["per_code"].items()
    )
    extra = metrics.get("extra", "")
    options = config["options"]
    if config["method"] == "fine-tune":
        method = "encoder fine-tuned with a classification head"
        if options.get("head", "free") == "definitions":
            method += " (each code scored by a passage's similarity to its embedded description)"
        if options.get("contrastive"):
            method += f" and a supervised contrastive loss (weight {options['contrastive']:g})"
        if tuned := config.get("fine_tuning"):
            how = ", matrix products in bfloat16" if tuned.get("precision") == "bf16" else ""
            if tuned.get("micro_batch"):
                how += f", batches encoded in pieces of {tuned['micro_batch']}"
            how += f", on {tuned['device']}" if tuned.get("device") else ""
            method += (
                f"; {tuned['steps']} steps of {options['batch_size']} ({tuned['epochs']:g} "
                f"epochs, {tuned['tokens']:,} tokens read{how})"
            )
    else:
        method = "logistic regression on frozen embeddings"
        if options.get("head") == "definitions" and options.get("definitions_weight"):
            method += (
                " and on each passage's similarity to the code's embedded description (weight "
                f"{options['definitions_weight']:g})"
            )
    return f"""# Model card: {config["model_id"]}

- Codebook: {config["codebook"]["name"]} version {config["codebook"]["version"]} (sha256 {config["codebook"]["sha256"][:12]}...), {"exclusive" if config["exclusive"] else "multi-label"}, codes: {", ".join(config["codes"])}
- Method: {config["method"]} ({method}), base encoder {config["embedding_model"]}
- Training data: {config["n_examples"]} examples (sha256 {config["training_data_sha256"][:12]}...) and {config.get("n_codebook_examples", 0)} definitions and exemplars from the codebook; {_calibration_words(config)}{_votes_words(config)}
- {_decision_words(config)}
- Long passages: {_window_words_text(config)}
- Preceding turn: {"its embedding is read beside the passage's" if config.get("context") else "not used"}
- Words: {_lexical_words(config)}
- Created: {config["created_at"]}

## Calibration examples (n={cal["n"]})

Macro-F1 {cal["macro_f1"]:.3f}, micro-F1 {cal["micro_f1"]:.3f}, mean kappa {cal["mean_kappa"]:.3f}, Krippendorff's alpha {cal["krippendorff_alpha"]:.3f}.
These examples also chose the thresholds, so the figures are optimistic; see `narratives evaluate` on unseen passages.

| code | precision | recall | F1 | kappa | support |
|---|---|---|---|---|---|
{rows}
{extra}
## Intended use and limits

Suggests codes for passages of interviews and reports like those it was trained on. It is a
first coder, not the last: review uncertain suggestions (`narratives review`) and measure it
against your own coders (`narratives evaluate`, `narratives agreement`) before relying on it.
"""


def _calibration_words(config: dict) -> str:
    if config.get("calibration") == "out-of-fold":
        return (
            f"all {config['n_calibration']} examples trained on; probabilities calibrated and "
            f"thresholds chosen on out-of-fold scores ({config['options']['folds']} folds)"
        )
    return (
        f"{config['n_train']} trained on, {config['n_calibration']} held out to calibrate "
        "probabilities and choose thresholds"
    )


def _decision_words(config: dict) -> str:
    """How the model decides: thresholds (multi-label) or the highest code (exclusive)."""
    if config["exclusive"]:
        temperature = config.get("temperature")
        how = (
            f"softmax of the logits divided by a temperature of {temperature:g}, fitted on the "
            "calibration examples"
            if temperature
            else "softmax of the logits, not calibrated"
        )
        return (
            f"Decisions: the code with the highest probability ({how}); abstain: a passage "
            "whose highest probability is below 0.5"
        )
    thresholds = ", ".join(f"{k} {v:.2f}" for k, v in config["thresholds"].items())
    return (
        f"Thresholds (best F{config['options']['threshold_beta']:g} on the calibration "
        f"examples): {thresholds}{_pooled_words(config)}; abstain band: log-odds within "
        f"{config['abstain_band']} of the threshold"
    )


def _pooled_words(config: dict) -> str:
    pooled = config.get("pooled_calibration")
    if not pooled:
        return ""
    return (
        f" ({', '.join(pooled)}: fewer than {config['options']['own_calibration']} calibration "
        "examples with or without the code, so calibrated together, on all codes' scores, "
        "with one threshold)"
    )


def _votes_words(config: dict) -> str:
    if not config.get("n_voted"):
        return ""
    return (
        f"; for {config['n_voted']} of those trained on, the share of coders who gave each code "
        "was the classification target (thresholds are chosen on the codes)"
    )


def _windowed_words(config: dict) -> str:
    n = config.get("windowed_examples")
    if not n:
        return ""
    return (
        f"; the {n} examples longer than that were trained on as their windows, each with "
        "the example's code, and calibrated on as they are scored"
    )


def _window_words_text(config: dict) -> str:
    if not config.get("window_words"):
        return "scored whole"
    chosen = config.get("options", {}).get("window_words")
    if config.get("window_pooling") == "mean":
        why = "set with --window-words" if chosen else "what the encoder reads"
        return (
            f"a passage of more than {config['window_words']} words ({why}) is scored by its "
            "windows of whole sentences of at most that length, their probabilities averaged "
            "(weighted by words), instead of being cut short" + _windowed_words(config)
        )
    why = (
        "set with --window-words"
        if chosen
        else "the 95th percentile of the examples' lengths, at most what the encoder reads"
    )
    return (
        f"a passage of more than {config['window_words']} words ({why}) is scored by its "
        "windows of whole "
        "sentences of at most that length, each code taking its highest window score; "
        "thresholds were chosen on whole examples"
    )


def _lexical_words(config: dict) -> str:
    lexical = config.get("lexical")
    if not lexical:
        return "not read beside the embedding"
    tried = ", ".join(f"{w}: {f:.3f}" for w, f in lexical["calibration_macro_f1"].items())
    if not lexical["weight"]:
        return f"not read (calibration macro-F1 by the weight of a word head: {tried})"
    return (
        f"reads the words of passages too: a head on TF-IDF of {lexical['terms']:,} words and "
        f"word pairs adds its logits times {lexical['weight']:g} (calibration macro-F1 by that "
        f"weight: {tried})"
    )
