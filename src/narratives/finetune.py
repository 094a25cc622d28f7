"""Fine-tune: coded passages -> an encoder, and a head, that place passages near their codes.

The encoder is trained with a classification head (each code scored by the passage's
similarity to the code's description, or by a layer learnt from scratch) and a supervised
contrastive loss, on the CPU in bfloat16 where it multiplies that natively, or on a GPU.
`train` calls `fine_tune` and calibrates what it returns.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from narratives.embed import clock, load_encoder
from narratives.model import ModelError

if TYPE_CHECKING:
    from narratives.train import TrainOptions

# Pieces a batch is encoded in on a CPU when, whole, it would be mostly padding
# (`TrainOptions.micro_batch` None). Measured 2026-11-27 on 2 cores: 800 third-round passages,
# every tenth four joined (68% padding whole), trained in 291 s instead of 601 s (seed 0),
# coding the 500 held out and the 120 as well (docs/coding-quality.md, "Training time").
AUTO_PIECES = 8


def torch_device(name: str | None):
    """The torch device fine-tuning runs on: `name`, checked, or a CUDA GPU where torch sees
    one, else the CPU."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ModelError(f"--device {name}: use cpu, cuda or cuda:N (N counts GPUs from 0), or mps")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"--device {name}: this torch has no Apple GPU (mps) to use; try cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"--device {name}: torch {torch.__version__} sees no CUDA GPU on this machine; "
            "leave --device out (or --device cpu) to train on the CPU"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ModelError(
            f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
            "numbered from 0"
        )
    return device


def use_bf16(precision: str, device_type: str = "cpu") -> bool:
    """Whether fine-tuning runs its matrix products in bfloat16.

    On a 2-core CPU with AMX a fine-tuning step of short passages took about half as long as
    in float32 (the whole `train` command 1.4x less). Without AMX bfloat16 is emulated and no
    faster, so "auto" keeps float32 there. On a GPU "auto" keeps float32 too: on one NVIDIA
    H200, `make train`'s whole command took 25-27 s in float32 against 33-35 s in bfloat16,
    on one H100 26-35 s against 40-49 s (runs alternated on a warm machine;
    docs/coding-quality.md, "Training time"), since an encoder this small gives the GPU too
    little work for autocast's casts to pay."""
    if precision != "auto":
        return precision == "bf16"
    if device_type != "cpu":
        return False
    import torch

    has_amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, hence guarded
    try:
        return bool(has_amx and has_amx())
    except RuntimeError:
        return False


def fine_tune(
    texts: list[str],
    y: np.ndarray,
    exclusive: bool,
    opts: TrainOptions,
    out: Path,
    log=print,
    soft: np.ndarray | None = None,
    descriptions: list[str] | None = None,
):
    """Fine-tune the encoder with a head; save the encoder to `out`, return the head as a
    linear layer on the saved encoder's unit vectors.

    `soft` (multi-label only): the classification loss's targets in [0, 1] (coders' votes,
    `examples.target_matrix`) instead of `y`; the contrastive loss keeps `y`.
    `descriptions` (one per code): with `opts.head == "definitions"`, a code's logit is a
    learnt scale times the passage's cosine similarity to its embedded description, plus a
    learnt offset; the descriptions are embedded at every step, so the encoder moves passages
    and the codes' meanings together. Afterwards the head's weights are the descriptions'
    final embeddings times the scale: the model folder looks as a free head's does."""
    import torch

    torch.manual_seed(opts.seed)
    device = torch_device(opts.device)
    bf16 = use_bf16(opts.precision, device.type)
    # What the log and the config say it ran on, where that is not the CPU.
    accelerator = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    import copy

    # A private copy: the encoder cached for this process must stay the frozen one.
    st = copy.deepcopy(load_encoder(opts.embedding_model, opts.device)).to(device)
    max_tokens = st.max_seq_length  # the base model's own limit, kept by the saved encoder
    tokenizer, transformer = st.tokenizer, st[0].auto_model
    dim = st.get_embedding_dimension()
    head = torch.nn.Linear(dim, y.shape[1]).to(device)
    by_definition = opts.head == "definitions"
    if by_definition and (descriptions is None or len(descriptions) != y.shape[1]):
        raise ModelError("--head definitions needs one description per code")
    log_scale = torch.nn.Parameter(torch.tensor(math.log(20.0), device=device))
    codes_given = torch.tensor(y, dtype=torch.float32, device=device)
    target = (
        codes_given
        if soft is None or exclusive
        else torch.tensor(soft, dtype=torch.float32, device=device)
    )
    if exclusive:
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        share = target.mean(0).clamp(min=1e-3, max=1 - 1e-3)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=((1 - share) / share).clamp(max=5.0))
    if by_definition:
        # The offset learns faster (it starts far from where it ends); the unused weights of
        # `head` stay out of the optimiser.
        head_groups = [{"params": [head.bias], "lr": 2e-2}, {"params": [log_scale], "lr": 2e-3}]
    else:
        head_groups = [{"params": head.parameters(), "lr": 2e-3}]
    optimiser = torch.optim.AdamW(
        [{"params": transformer.parameters(), "lr": opts.learning_rate}, *head_groups],
        weight_decay=0.01,
    )
    scale = 10.0  # unit vectors times 10: logits in a useful range from the start
    # Each example's length in tokens: the schedule's padding and the pieces of a batch.
    token_ids = tokenizer(texts, truncation=True, max_length=max_tokens)["input_ids"]
    lengths = np.array([len(ids) for ids in token_ids])

    def embed(batch: list[str], low_precision: bool = bf16):
        """Unit vectors, mean-pooled as sentence-transformers pools them."""
        encoded = tokenizer(
            batch, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt"
        ).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=low_precision):
            hidden = transformer(**encoded).last_hidden_state.float()
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    def embed_by_length(idx: np.ndarray):
        """Unit vectors of the examples `idx`, encoded in pieces of `opts.micro_batch` of
        similar length and put back in order: padded as one batch, a single long passage makes
        every passage cost as much as it. The losses still see the whole batch."""
        piece = opts.micro_batch or len(idx)
        if len(idx) <= piece:  # one piece, in the batch's own order
            return embed([texts[i] for i in idx])
        order = np.argsort(lengths[idx], kind="stable")
        pieces = [
            embed([texts[i] for i in idx[order[start : start + piece]]])
            for start in range(0, len(idx), piece)
        ]
        return torch.cat(pieces)[torch.as_tensor(np.argsort(order, kind="stable"))]

    def forward(idx: np.ndarray):
        pooled = embed_by_length(idx)
        if by_definition:
            return pooled, log_scale.exp() * pooled @ embed(descriptions).T + head.bias
        return pooled, head(pooled * scale)

    if by_definition:
        # Each offset starts at minus the scaled mean similarity of (up to 256) examples to
        # the code's description, so training starts near "no code" rather than "every code".
        transformer.eval()
        with torch.no_grad():
            sample = [texts[i] for i in range(0, len(texts), max(1, len(texts) // 256))]
            similarity = (
                torch.cat([embed(sample[k : k + 64]) for k in range(0, len(sample), 64)])
                @ embed(descriptions).T
            )
            head.bias.copy_(-log_scale.exp() * similarity.mean(0))

    def contrastive_loss(pooled, labels):
        """Supervised contrastive loss: each passage's positives are those sharing a code."""
        eye = torch.eye(len(labels), dtype=torch.bool, device=device)
        positives = ((labels @ labels.T) > 0).float().masked_fill(eye, 0.0)
        similarity = pooled @ pooled.T / opts.temperature
        log_prob = similarity - torch.logsumexp(similarity.masked_fill(eye, -1e9), 1, keepdim=True)
        has = positives.sum(1) > 0
        if not has.any():
            return similarity.new_zeros(())
        return (-(positives * log_prob).sum(1)[has] / positives.sum(1)[has]).mean()

    steps, per_epoch, read = schedule(lengths, opts)
    padding = 1 - sum(lengths[b].sum() for b in steps) / read[len(steps) - 1]
    if opts.micro_batch is None and padding > 0.5 and device.type == "cpu":
        # Mostly padding: pieces of similar length save a CPU most of that work. A GPU pads
        # in parallel, and small pieces leave it idle (H200: 72 s in pieces against 38 s).
        opts = replace(opts, micro_batch=AUTO_PIECES)
        steps, per_epoch, read = schedule(lengths, opts)  # the same batches, read in pieces
        log(
            f"  whole batches would be {padding:.0%} padding (long passages among short "
            f"ones): each is encoded in pieces of {AUTO_PIECES} passages of similar length "
            "(about twice as fast; --micro-batch 0 for whole batches)"
        )
    total, epochs = len(steps), -(-len(steps) // per_epoch)
    if total < len(read):
        log(
            f"{total / per_epoch:.1f} epochs ({total} of {len(read)} steps, batch "
            f"{opts.batch_size}): the token budget of {opts.token_budget:,} (--token-budget) "
            f"reads {int(read[total - 1]):,} of {int(read[-1]):,} tokens"
        )
    else:
        log(f"{epochs} epoch{'s' * (epochs != 1)} of {per_epoch} steps (batch {opts.batch_size})")
    if device.type != "cpu":
        log(f"  on {accelerator}")
    if bf16:
        log("  matrix products in bfloat16 (--precision fp32 for float32 throughout)")
    started = warmed = time.monotonic()

    def estimate(step: int) -> tuple[float, float]:  # seconds spent, seconds to go
        now = time.monotonic()
        return now - started, time_left(step, total, now - started, now - warmed)

    def timing(step: int) -> str:
        spent, left = estimate(step)
        return f"{clock(spent)} so far, about {clock(left)} to go"

    transformer.train()
    for step, idx in enumerate(steps):
        if step % per_epoch == 0 and (epochs <= 10 or step // per_epoch % 10 == 0):
            epoch = step // per_epoch + 1
            log(f"epoch {epoch} of {epochs}" + (f" ({timing(step)})" if step else ""))
        pooled, logits = forward(idx)
        gold = target[idx].argmax(1) if exclusive else target[idx]
        loss = loss_fn(logits, gold)
        if opts.contrastive > 0 and len(idx) > 1:
            loss = loss + opts.contrastive * contrastive_loss(pooled, codes_given[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step == 0:
            warmed = time.monotonic()
        # An early estimate, unless an epoch's line (with its own) comes first: epochs are
        # logged each (up to 10 epochs) or every tenth (150 examples: 30 epochs of 5 steps).
        first_timed = per_epoch if epochs <= 10 else 10 * per_epoch
        if step + 1 == 10 and first_timed > 10:
            log(f"  10 of {total} steps ({timing(10)})")
            if sum(estimate(10)) > 15 * 60:
                log(
                    "  (faster, at some cost: --token-budget 1000000 stops after about 10 min; "
                    "--group-by-length pads less; --method linear takes seconds)"
                )
    transformer.eval()
    if by_definition:
        with torch.no_grad():
            # In float32, as passages are embedded when the model codes them.
            weight = (log_scale.exp() * embed(descriptions, low_precision=False)).cpu().numpy()
        log(f"  scale of the similarity to each definition: {math.exp(log_scale.item()):.1f}")
    else:
        weight = head.weight.detach().cpu().numpy() * scale
    st.to("cpu").save(str(out))
    _halve_weights(out)
    done = {"steps": total, "epochs": round(total / per_epoch, 2), "tokens": int(read[total - 1])}
    if bf16:
        done["precision"] = "bf16"
    if opts.micro_batch:
        done["micro_batch"] = opts.micro_batch
    if device.type != "cpu":
        done["device"] = accelerator
    bias = head.bias.detach().cpu().numpy()
    return weight.astype(np.float32), bias.astype(np.float32), done


def time_left(step: int, total: int, spent: float, since_first: float) -> float:
    """Seconds to go after `step` of `total` steps: `spent` since the first began,
    `since_first` since it ended. Timed from the second step on, since the first carries the
    warm-up (on a cold GPU 9 s of the first 10 steps, so an estimate of 4:39 for a fine-tuning
    that took 28 s)."""
    pace = since_first / (step - 1) if step > 1 else spent / max(step, 1)
    return pace * (total - step)


def schedule(lengths: np.ndarray, opts: TrainOptions) -> tuple[list[np.ndarray], int, np.ndarray]:
    """Fine-tuning's batches in order: `opts.epochs` passes (more if that is under
    `opts.min_steps` steps), cut where the tokens read, padding included, would pass
    `opts.token_budget` (at least one step). Returns the batches, the steps per epoch and the
    running count of tokens read over all uncut steps."""
    rng = np.random.RandomState(opts.seed)
    per_epoch = -(-len(lengths) // opts.batch_size)
    epochs = max(opts.epochs, -(-opts.min_steps // per_epoch))
    plan = [
        b
        for _ in range(epochs)
        for b in batches(lengths, opts.batch_size, opts.group_by_length, rng)
    ]
    read = np.cumsum([padded_tokens(lengths[b], opts.micro_batch or len(b)) for b in plan])
    total = len(plan)
    if opts.token_budget:
        total = max(1, min(total, int(np.searchsorted(read, opts.token_budget, side="right"))))
    return plan[:total], per_epoch, read


def padded_tokens(lengths: np.ndarray, piece: int) -> int:
    """The tokens, padding included, the encoder reads for one batch of these lengths, encoded
    in pieces of `piece` passages of similar length."""
    longest_first = np.sort(lengths)[::-1]
    pieces = np.split(longest_first, range(piece, len(lengths), piece))
    return int(sum(len(p) * p[0] for p in pieces))


def batches(lengths: np.ndarray, size: int, grouped: bool, rng) -> list[np.ndarray]:
    """One epoch's batches of example indices, in random order. Grouped: each run of 50
    batches' worth of shuffled examples is sorted by length before it is cut into batches,
    so a batch pads little (random batches of the shipped examples are 46% padding)."""
    order = rng.permutation(len(lengths))
    if grouped:
        runs = [order[i : i + 50 * size] for i in range(0, len(order), 50 * size)]
        order = np.concatenate([run[np.argsort(lengths[run], kind="stable")] for run in runs])
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    if grouped:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _halve_weights(folder: Path) -> None:
    """Store the fine-tuned encoder in fp16 (about 45 MB); it is loaded back as fp32."""
    from safetensors.numpy import load_file, save_file

    path = folder / "model.safetensors"
    tensors = {
        k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in load_file(path).items()
    }
    save_file(tensors, path, metadata={"format": "pt"})
