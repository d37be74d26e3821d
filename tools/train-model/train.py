#!/usr/bin/python3
"""Train dlmscope's default model: a small MMaDA/LLaDA-architecture masked-diffusion language model.

The network is the LLaDA "llama" block of the spec (RMSNorm, RoPE with rotate-half pairing, no causal
mask, SwiGLU with ff_proj as the gate, untied head), written here in plain PyTorch (Debian's
python3-torch). The objective is LLaDA's:

* raw text (pre-training): draw t ~ U(eps, 1) per sequence, replace each token by the mask token with
  probability t, and take the cross-entropy on the masked positions weighted by 1/t, averaged over
  the batch's tokens;
* prompt/answer pairs (LLaDA's SFT): the same, but only answer positions are masked, and the loss
  is normalised by the length of the answer region (the generation length). The region holds the
  answer, then LLaDA's <|eot_id|> and <|endoftext|> padding (--answer-end eos, the default), or the
  answer and more sayings (--answer-end fill, the previous default model's; see Batches);
* echo windows (--echo-share, half the raw-text windows in the recipe): raw text in which one saying
  appears twice, so that a masked token is best recovered from its other copy; this keeps the seeded
  induction circuit (Model.induction_init) in use until completion prompts rely on it. Random-token
  copy windows (--copy-share) are not in the recipe; docs/default-model.md says what they did.

The weights are written as bf16 safetensors shards with an index, the MMaDA config keys and the
tokenizer files, i.e. the Hugging Face layout the engine loads for any MMaDA checkpoint.

usage: train.py WORK MODEL_DIR [--steps N] [--seed S] ...   (see tools/train-model/train.sh)
"""
import argparse
import json
import math
import os
import random
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|mdm_mask|>"]


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, h, L, V = c["d_model"], c["mlp_hidden_size"], c["n_layers"], c["embedding_size"]
        P = torch.nn.Parameter
        # Fan-in scaled normal init ("mitchell"): std 1/sqrt(fan_in), residual outputs also / sqrt(2L).
        # (A flat 0.02 keeps a model this narrow at uniform attention, i.e. at the unigram loss, for
        # hundreds of steps.)
        def w(out_f, in_f, scale=1.0):
            return P(torch.randn(out_f, in_f) * scale / math.sqrt(in_f))
        self.wte = P(torch.randn(V, d))
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            b = torch.nn.Module()
            b.attn_norm = P(torch.ones(d))
            b.q_proj, b.k_proj, b.v_proj = w(d, d), w(d, d), w(d, d)
            b.attn_out = w(d, d, 1 / math.sqrt(2 * L))
            b.ff_norm = P(torch.ones(d))
            b.ff_proj, b.up_proj = w(h, d), w(h, d)
            b.ff_out = w(d, h, 1 / math.sqrt(2 * L))
            self.blocks.append(b)
        self.ln_f = P(torch.ones(d))
        self.ff_out = w(V, d)
        if c.get("_positional_init"):
            self.positional_init()
        if c.get("_induction_init"):
            self.induction_init()

    def positional_init(self):
        """Start some heads as previous-/next-token heads (offsets -1/+1 in every layer, also -2/+2 in
        the first), a pattern trained language models are known to grow. Embedding feature 0 is made
        a constant, so after RMSNorm it is a content-free input; those heads' q and k read only it, on
        the RoPE pairs that turn fast enough (angle per position >= 0.05), with k's phase shifted by
        the wanted offset, so that q_i . k_j peaks at j = i + offset. The rest of q and k stays random
        (scaled down), so training is free to change them. Without this, bidirectional attention
        starts uniform and a model this small sits at the unigram loss for many hundreds of steps."""
        d, H = self.c["d_model"], self.c["n_heads"]
        hd = d // H
        half = hd // 2
        with torch.no_grad():
            self.wte[:, 0] = 3.0
            for li, b in enumerate(self.blocks):
                offsets = [-1, 1] + ([-2, 2] if li == 0 else [])
                for h, off in enumerate(offsets[:H]):
                    for j in range(half):
                        th = self.c["rope_theta"] ** (-2 * j / hd)
                        if th < 0.05:
                            continue
                        r0, r1 = h * hd + j, h * hd + j + half
                        for wq in (b.q_proj, b.k_proj):
                            wq[r0, :] *= 0.1
                            wq[r1, :] *= 0.1
                        b.q_proj[r0, 0], b.q_proj[r1, 0] = 2.5, 0.0
                        b.k_proj[r0, 0], b.k_proj[r1, 0] = 2.5 * math.cos(-th * off), 2.5 * math.sin(-th * off)

    # Residual-stream dimensions that induction_init reserves (the embedding starts at zero there).
    COPY_SRC = slice(1, 33)       # token features that are copied (dimension 0 is positional_init's constant)
    COPY_OUT = slice(192, 224)    # where the induction head writes the copied token's features
    PREV_TOK = slice(224, 256)    # where the previous-token head writes the previous token's features

    def induction_init(self):
        """Start one induction circuit, the mechanism by which trained transformers copy a span they
        have seen (Olsson et al., 2022): at a position whose previous token is A, attend to the token
        that followed an earlier A and predict it. Here it is what a completion prompt asks for: once
        an answer token equal to a prompt word is committed, the next prompt word becomes the likely
        next answer token. From scratch this model did not grow one in 3 400 steps (copy gain under
        0.3 nats; docs/default-model.md), so it is seeded, in three parts:

        * layer 0, head 0 (the -1 head of positional_init) moves the previous token's features
          (embedding dimensions COPY_SRC) into the residual dimensions PREV_TOK;
        * layer 1, head 2 matches its query's PREV_TOK against each key's PREV_TOK on the RoPE pairs
          that barely turn (angle per position <= 0.0073, so the match holds across a prompt) but
          the slowest, on which its keys carry minus the direction of the mask token's embedding,
          so masked positions (itself included) are not attended; its value is the key's own
          COPY_SRC features, written into COPY_OUT;
        * the output head reads COPY_OUT as the embedding's COPY_SRC features, so the copied token's
          logit rises.

        The embedding starts at zero on COPY_OUT and PREV_TOK, the mask token's COPY_SRC features are
        zero, and nothing else in layers 0 and 1 writes to COPY_OUT or PREV_TOK at the start. Training
        is free to change all of it."""
        d, H = self.c["d_model"], self.c["n_heads"]
        hd = d // H
        half = hd // 2
        src, out, prev = self.COPY_SRC, self.COPY_OUT, self.PREV_TOK
        n = src.stop - src.start
        assert hd == n == out.stop - out.start == prev.stop - prev.start and H >= 3 and len(self.blocks) >= 2
        mask_id = self.c["mask_token_id"]
        with torch.no_grad():
            b0, b1 = self.blocks[0], self.blocks[1]
            for reserved in (out, prev):
                self.wte[:, reserved] = 0.0
                for b in (b0, b1):
                    b.attn_out[reserved, :] = 0.0
                    b.ff_out[reserved, :] = 0.0
            # layer 0, head 0: previous token's COPY_SRC -> PREV_TOK
            b0.v_proj[0:hd, :] = 0.0
            for r in range(n):
                b0.v_proj[r, src.start + r] = 1.0
                b0.attn_out[prev.start + r, r] = 1.0
            # layer 1, head 2: the induction head
            h0 = 2 * hd
            b1.q_proj[h0:h0 + hd, :] = 0.0
            b1.k_proj[h0:h0 + hd, :] = 0.0
            slow = [j for j in range(half) if self.c["rope_theta"] ** (-2 * j / hd) < 0.008]
            for m, j in enumerate(slow[:-1]):
                for r, f in ((h0 + j, prev.start + 2 * m), (h0 + j + half, prev.start + 2 * m + 1)):
                    b1.q_proj[r, f] = 2.0
                    b1.k_proj[r, f] = 2.0
            j = slow[-1]
            self.wte[mask_id, src] = 0.0  # a masked previous token matches nothing and a masked key copies nothing
            e_mask = self.wte[mask_id].clone()
            b1.q_proj[h0 + j, 0] = 1.0
            b1.k_proj[h0 + j, :] = -e_mask / e_mask.norm()
            b1.v_proj[h0:h0 + hd, :] = 0.0
            for r in range(n):
                b1.v_proj[h0 + r, src.start + r] = 1.0
                b1.attn_out[out.start + r, h0 + r] = 1.0
            self.ff_out[:, out] = 0.5 * self.wte[:, src]

    def rope(self, n):
        hd = self.c["d_model"] // self.c["n_heads"]
        inv = 1.0 / (self.c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
        return torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)

    def forward(self, x):
        B, T = x.shape
        H = self.c["n_heads"]
        eps = self.c["rms_norm_eps"]
        cos, sin = self.rope(T)

        def rot(t):
            t1, t2 = t.chunk(2, -1)
            return t * cos + torch.cat([-t2, t1], -1) * sin

        h = self.wte[x]
        for b in self.blocks:
            a = rms_norm(h, b.attn_norm, eps)
            q, k, v = (F.linear(a, w).view(B, T, H, -1).transpose(1, 2) for w in (b.q_proj, b.k_proj, b.v_proj))
            q, k = rot(q), rot(k)
            p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
            o = (p @ v).transpose(1, 2).reshape(B, T, -1)
            h = h + F.linear(o, b.attn_out)
            m = rms_norm(h, b.ff_norm, eps)
            h = h + F.linear(F.silu(F.linear(m, b.ff_proj)) * F.linear(m, b.up_proj), b.ff_out)
        return F.linear(rms_norm(h, self.ln_f, eps), self.ff_out)


def make_config(a, n_ordinary):
    """The MMaDA config keys (spec 2.1) for a model of the given sizes: the tokenizer's ordinary
    tokens, its six special tokens, then the image codebook rows as in MMaDA checkpoints."""
    V = n_ordinary + len(SPECIALS)
    vocab = V + a.codebook
    return {
        "activation_type": "silu", "alibi": False, "alibi_bias_max": 8.0, "architectures": ["MMadaModelLM"],
        "attention_dropout": 0.0, "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
        "bias_for_layer_norm": False, "block_group_size": 1, "block_type": "llama", "codebook_size": a.codebook,
        "d_model": a.d_model, "embedding_dropout": 0.0, "embedding_size": vocab, "eos_token_id": n_ordinary + 1,
        "flash_attention": False, "include_bias": False, "include_qkv_bias": False, "init_cutoff_factor": None,
        "init_device": "meta", "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": False,
        "layer_norm_type": "rms", "layer_norm_with_affine": True, "llm_vocab_size": V, "mask_token_id": n_ordinary + 5,
        "max_sequence_length": 4096, "mlp_hidden_size": a.mlp_hidden, "mlp_ratio": a.mlp_hidden // a.d_model,
        "model_type": "mmada", "multi_query_attention": None, "n_heads": a.n_heads, "n_kv_heads": a.n_heads,
        "n_layers": a.n_layers, "new_vocab_size": vocab, "num_new_special_tokens": 0, "num_vq_tokens": 1024,
        "pad_token_id": n_ordinary + 1, "precision": "amp_bf16", "pretrained_model_path": "dlmscope/mmada-fortunes",
        "residual_dropout": 0.0, "rms_norm_eps": 1e-05, "rope": True, "rope_full_precision": True,
        "rope_theta": 500000.0, "scale_logits": False, "tie_word_embeddings": False,
        "transformers_version": "4.46.3", "use_cache": False, "vocab_size": vocab, "w_clip_vit": False,
        "weight_tying": False,
    }


class Batches:
    """Training batches: raw-text windows and prompt/answer pairs bucketed by prompt length (no
    padding inside the attention, which has no mask).

    Raw text joins sayings by a blank line ("\n\n"). The answer region of a pair is, with
    --answer-end eos (the default), LLaDA's: the answer, <|eot_id|>, then <|endoftext|> up to the
    generation length, so an answer stops where the saying does. Padding is most of the targets (a
    saying is 20–40 of the 128 positions); at full weight a run of this model learnt the padding's
    marginal and left every answer empty, so loss_of weighs padding targets by --pad-weight (0.3).
    With --answer-end fill (the previous default model's) the region is the answer, a blank line,
    then following sayings of the training text, cut at the generation length: that model wrote
    text at every position, in loops. docs/default-model.md compares the two."""

    def __init__(self, ids, c, a, rng, n_ordinary):
        self.rng, self.a, self.c = rng, a, c
        self.step = 0  # the training step the next batch is for (echo windows stop after --echo-until)
        self.mask = c["mask_token_id"]
        self.n_ordinary = n_ordinary  # the BPE tokens, ids 0..n_ordinary-1; the special tokens follow
        self.eot = c["eos_token_id"] + 3  # <|eot_id|>
        sep = ids["separator"]
        stream, self.starts = [], []
        for r in ids["raw"]:
            self.starts.append(len(stream))
            stream += r + sep
        self.stream = np.array(stream, dtype=np.int64)
        self.sep = sep
        self.buckets = {}
        for row in ids["sft"]:
            for name, (p, ans) in row.items():
                if a.answer_end == "fill" and ans and ans[-1] == self.eot:
                    ans = ans[:-1]
                elif a.answer_end == "eos" and (not ans or ans[-1] != self.eot):
                    ans = ans + [self.eot]
                if len(ans) <= a.gen_length:
                    self.buckets.setdefault(len(p), []).append((p, ans))
        self.keys = sorted(self.buckets)
        self.weights = [len(self.buckets[k]) for k in self.keys]
        self.n_pairs = sum(self.weights)

    def raw(self, B):
        S = self.a.seq_len
        starts = [self.rng.randrange(0, len(self.stream) - S) for _ in range(B)]
        x = torch.from_numpy(np.stack([self.window(s) for s in starts]))
        return x, torch.ones_like(x, dtype=torch.bool), None

    def window(self, start):
        if self.a.copy_share == 0 and self.a.echo_share == 0:  # draws nothing: such a run's batches are those of the earlier recipes
            return self.stream[start:start + self.a.seq_len]
        u = self.rng.random()
        if u < self.a.copy_share:
            return self.random_copy()
        if u < self.a.copy_share + self.a.echo_share and self.step <= self.a.echo_until:
            return self.echo()
        return self.stream[start:start + self.a.seq_len]

    def random_copy(self):
        """A window of random ordinary tokens, 8 to 40 of them written twice with a blank line
        between, then the text stream: the second copy can only be predicted by copying the first
        (the classic task on which induction heads form; --copy-share)."""
        S, n = self.a.seq_len, self.rng.randint(8, 40)
        toks = [self.rng.randrange(self.n_ordinary) for _ in range(n)]
        row = toks + self.sep + toks + self.sep
        start = self.rng.randrange(0, len(self.stream) - S)
        row += self.stream[start:start + S].tolist()
        return np.array(row[:S], dtype=np.int64)

    def echo(self):
        """A raw window in which one saying appears twice, separated by a blank line, after some text
        before it: with both copies masked independently, a masked token is best recovered from the
        other copy, which teaches the copying that a completion prompt asks for (--echo-share)."""
        S = self.a.seq_len
        i = self.rng.randrange(1, len(self.starts) - 1)
        say = self.stream[self.starts[i]:self.starts[i + 1] - len(self.sep)].tolist()[: (S - 2 * len(self.sep)) // 2]
        pre = self.rng.randrange(0, max(1, S - 2 * len(say) - 2 * len(self.sep) + 1))
        row = self.stream[max(0, self.starts[i] - pre):self.starts[i]].tolist() if pre else []
        row += say + self.sep + say + self.sep
        rest = self.starts[i + 1]
        row += self.stream[rest:rest + S].tolist()
        row += self.stream[:S - len(row)].tolist()  # near the end of the stream, wrap around
        return np.array(row[:S], dtype=np.int64)

    def sft(self, B):
        k = self.rng.choices(self.keys, self.weights)[0]
        rows = [self.rng.choice(self.buckets[k]) for _ in range(B)]
        G = self.a.gen_length
        x = torch.empty((B, k + G), dtype=torch.long)
        for i, (p, ans) in enumerate(rows):
            if self.a.answer_end == "fill":
                start = self.rng.choice(self.starts[:-G])
                fill = (ans + self.sep + self.stream[start:start + G].tolist())[:G]
            else:
                fill = ans + [self.c["eos_token_id"]] * (G - len(ans))
            x[i, :k] = torch.tensor(p)
            x[i, k:] = torch.tensor(fill)
        region = torch.zeros_like(x, dtype=torch.bool)
        region[:, k:] = True
        return x, region, G

    def next(self, B, g):
        x, region, ans_len = self.sft(B) if self.rng.random() < self.a.sft_share else self.raw(B)
        return masked_loss_inputs(x, region, ans_len, self.mask, self.a.eps, g)


def masked_loss_inputs(x, region, ans_len, mask_id, eps, g):
    B = x.shape[0]
    t = eps + (1 - eps) * torch.rand(B, 1, generator=g)
    m = (torch.rand(x.shape, generator=g) < t) & region
    noisy = torch.where(m, torch.full_like(x, mask_id), x)
    norm = float(ans_len if ans_len else x.shape[1])
    return noisy, x, m, t, norm


def loss_of(model, noisy, x, m, t, norm, eos, pad_weight, t_weight="1/t"):
    logits = model(noisy)
    ce = F.cross_entropy(logits[m], x[m], reduction="none")
    w = torch.where(x[m] == eos, pad_weight, 1.0)  # <|endoftext|> is only ever padding
    if t_weight == "1/t":
        weighted = (w * ce / t.expand_as(m)[m]).sum() / (x.shape[0] * norm)
    else:
        weighted = (w * ce).sum() / w.sum().clamp(min=1.0)
    return weighted, ce.sum().item(), int(m.sum())


def heldout_loss(model, ids, c, a):
    """Mean cross-entropy per masked token on held-out sayings at fixed mask rates (seeded)."""
    g = torch.Generator().manual_seed(a.seed + 1)
    tot, n = 0.0, 0
    model.eval()
    with torch.no_grad():
        for r in ids["heldout"][:100]:
            x = torch.tensor(r[: a.seq_len])[None]
            for tm in (0.15, 0.5, 0.85):
                m = torch.rand(x.shape, generator=g) < tm
                if not m.any():
                    continue
                logits = model(torch.where(m, torch.full_like(x, c["mask_token_id"]), x))
                tot += F.cross_entropy(logits[m], x[m], reduction="sum").item()
                n += int(m.sum())
    model.train()
    return tot / max(n, 1)


def copy_gain(model, ids, c, a):
    """How much the model copies, in nats per token: on 50 held-out sayings (up to 48 tokens) written
    twice, the cross-entropy of the second copy's tokens masked at rate 0.5 when the first copy is
    also masked, minus the same when the first copy is visible. 0 for a model that cannot copy;
    copying completion prompts into their answers needs it (seeded)."""
    g = torch.Generator().manual_seed(a.seed + 2)
    mask, sep = c["mask_token_id"], ids["separator"]
    tot = {True: 0.0, False: 0.0}
    model.eval()
    with torch.no_grad():
        for r in ids["heldout"][:50]:
            say = r[:48]
            x = torch.tensor(say + sep + say)[None]
            second = torch.zeros_like(x, dtype=torch.bool)
            second[0, len(say) + len(sep):] = True
            m = second & (torch.rand(x.shape, generator=g) < 0.5)
            m[0, -1] = True  # at least one target
            for visible in (True, False):
                mm = m if visible else m | ~second
                logits = model(torch.where(mm, torch.full_like(x, mask), x))
                tot[visible] += F.cross_entropy(logits[m], x[m]).item()
    model.train()
    return (tot[False] - tot[True]) / 50


def save_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return off


def export(model, c, out, shards):
    """Hub layout: config.json, model-0000k-of-0000n.safetensors + index, tokenizer files."""
    named = {"model.transformer.wte.weight": model.wte}
    for i, b in enumerate(model.blocks):
        for k in ("attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_norm", "ff_proj", "up_proj", "ff_out"):
            named[f"model.transformer.blocks.{i}.{k}.weight"] = getattr(b, k)
    named["model.transformer.ln_f.weight"] = model.ln_f
    named["model.transformer.ff_out.weight"] = model.ff_out
    # Kind-grouped shards as on the hub: embeddings and head first, then the blocks in order.
    names = list(named)
    per = math.ceil(len(names) / shards)
    weight_map, total = {}, 0
    for s in range(shards):
        part = names[s * per:(s + 1) * per]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        total += save_safetensors(os.path.join(out, fname), {n: named[n] for n in part})
        weight_map.update({n: fname for n in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    first_special = c["llm_vocab_size"] - len(SPECIALS)
    tok = lambda s: {"content": s, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({"additional_special_tokens": [tok(s) for s in SPECIALS[2:5]], "bos_token": tok(SPECIALS[0]),
                   "eos_token": tok(SPECIALS[1]), "mask_token": tok(SPECIALS[5]), "pad_token": tok(SPECIALS[1])}, f, indent=2)
    template = ("{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}"
                "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n' + (message['content'] | trim) + '<|eot_id|>' }}"
                "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n' }}{% endif %}")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": False, "add_eos_token": False,
                   "added_tokens_decoder": {str(first_special + i): dict(tok(s), special=True) for i, s in enumerate(SPECIALS)},
                   "additional_special_tokens": SPECIALS[2:5], "bos_token": SPECIALS[0], "chat_template": template,
                   "clean_up_tokenization_spaces": False, "eos_token": SPECIALS[1], "mask_token": SPECIALS[5],
                   "model_max_length": 4096, "pad_token": SPECIALS[1], "padding_side": "left",
                   "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--d-model", dest="d_model", type=int, default=256)
    ap.add_argument("--n-layers", dest="n_layers", type=int, default=4)
    ap.add_argument("--n-heads", dest="n_heads", type=int, default=8)
    ap.add_argument("--mlp-hidden", dest="mlp_hidden", type=int, default=768)
    ap.add_argument("--codebook", type=int, default=32)
    ap.add_argument("--gen-length", dest="gen_length", type=int, default=128)
    ap.add_argument("--seq-len", dest="seq_len", type=int, default=128)
    ap.add_argument("--sft-share", dest="sft_share", type=float, default=0.5)
    ap.add_argument("--t-weight", dest="t_weight", choices=("1/t", "none"), default="1/t",
                    help="1/t: LLaDA's ELBO weighting of a sequence masked at rate t; none: every masked token alike")
    ap.add_argument("--copy-share", dest="copy_share", type=float, default=0.0,
                    help="share of raw-text windows that hold random tokens twice (see Batches.random_copy)")
    ap.add_argument("--echo-share", dest="echo_share", type=float, default=0.5,
                    help="share of raw-text windows that hold one saying twice (teaches copying; see Batches.echo)")
    ap.add_argument("--echo-until", dest="echo_until", type=int, default=1 << 30,
                    help="the last step with echo windows; after it their share of windows is plain text")
    ap.add_argument("--answer-end", dest="answer_end", choices=("fill", "eos"), default="eos",
                    help="what follows an answer in its region: more sayings (fill) or <|eot_id|> and <|endoftext|> padding (eos)")
    ap.add_argument("--pad-weight", dest="pad_weight", type=float, default=0.3,
                    help="with --answer-end eos: loss weight of <|endoftext|> padding targets")
    ap.add_argument("--resume", action="store_true",
                    help="continue from WORK/resume.pt (written at every evaluation) instead of starting afresh")
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--eval-every", dest="eval_every", type=int, default=250)
    ap.add_argument("--no-positional-init", dest="positional_init", action="store_false",
                    help="start every head random (see Model.positional_init)")
    ap.add_argument("--no-induction-init", dest="induction_init", action="store_false",
                    help="do not seed the induction circuit (see Model.induction_init)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    with open(os.path.join(a.out, "tokenizer.json")) as f:
        n_ordinary = len(json.load(f)["model"]["vocab"])
    with open(os.path.join(a.work, "ids.json")) as f:
        ids = json.load(f)
    c = make_config(a, n_ordinary)
    model = Model(dict(c, _positional_init=a.positional_init, _induction_init=a.induction_init))
    n_params = sum(p.numel() for p in model.parameters())
    data = Batches(ids, c, a, rng, n_ordinary)
    print(f"model: {n_params / 1e6:.2f}M parameters ({c['n_layers']} layers, d={c['d_model']}, {c['n_heads']} heads, "
          f"mlp {c['mlp_hidden_size']}, vocab {c['vocab_size']}); data: {len(data.stream)} raw tokens, "
          f"{data.n_pairs} prompt/answer pairs", flush=True)

    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    resume_path = os.path.join(a.work, "resume.pt")
    first = 1
    if a.resume and os.path.exists(resume_path):
        st = torch.load(resume_path)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        rng.setstate(st["rng"])
        g.set_state(st["gen"])
        torch.set_rng_state(st["torch"])
        first = st["step"] + 1
        print(f"resumed from {resume_path} at step {st['step']}", flush=True)
    t0, run_ce, run_n, run_w, last = time.time(), 0.0, 0, 0.0, first - 1
    for step in range(first, a.steps + 1):
        lr = a.lr * min(step / a.warmup, 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        data.step = step
        loss, ce, n = loss_of(model, *data.next(a.batch, g), c["eos_token_id"], a.pad_weight, a.t_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run_ce, run_n, run_w = run_ce + ce, run_n + n, run_w + loss.item()
        if step % 50 == 0 or step == a.steps:
            el = time.time() - t0
            print(f"step {step}/{a.steps}  loss {run_w / (step - last):.3f}  masked CE {run_ce / max(run_n, 1):.3f}  lr {lr:.2e}  "
                  f"{el:.0f}s ({el / (step - first + 1):.2f}s/step)", flush=True)
            run_ce, run_n, run_w, last = 0.0, 0, 0.0, step
        if step % a.eval_every == 0 or step == a.steps:
            print(f"  held-out masked CE {heldout_loss(model, ids, c, a):.3f}  copy gain {copy_gain(model, ids, c, a):.3f}",
                  flush=True)
            export(model, c, a.out, a.shards)  # a usable checkpoint at every evaluation
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": rng.getstate(), "gen": g.get_state(),
                        "torch": torch.get_rng_state(), "step": step}, resume_path)
    total = export(model, c, a.out, a.shards)
    print(f"wrote {a.out}: {total} bytes of bf16 weights; training took {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
