#!/usr/bin/python3
"""Build the training and held-out text of the default model from Debian's `fortunes` package.

Reads /usr/share/games/fortunes (package `fortunes`, fortune-mod 1.99.1; BSD licence, see
/usr/share/doc/fortunes/copyright), splits every file into its sayings, folds whitespace, holds out a
fixed share of sayings by a seeded shuffle, and writes into OUT:

  tokenizer-corpus.txt  the training sayings, one per line (what the BPE tokenizer is trained on)
  texts.json            {"sft": [[prompt, answer], ...], "raw": [saying, ...]} for training
  heldout.json          {"prompts": [20 held-out prompts], "texts": [held-out sayings]}

Usage: prepare.py OUT [--seed N]
"""
import argparse
import json
import os
import random
import re

SRC = "/usr/share/games/fortunes"
# Files left out: drawings, text meant for translation, and the all-capitals word salad of zippy.
SKIP = {"art", "ascii-art", "translate-me", "zippy"}
# What a prompt calls each file's subject.
TOPIC = {
    "computers": "computers", "cookie": "life", "debian": "Debian", "definitions": "words",
    "disclaimer": "disclaimers", "drugs": "drugs", "education": "education", "ethnic": "people",
    "food": "food", "fortunes": "the future", "goedel": "logic", "humorists": "humor", "kids": "kids",
    "knghtbrd": "life", "law": "the law", "linux": "Linux", "linuxcookie": "Linux",
    "literature": "books", "love": "love", "magic": "magic", "medicine": "medicine",
    "men-women": "men and women", "miscellaneous": "anything", "news": "the news",
    "paradoxum": "paradoxes", "people": "people", "perl": "Perl", "pets": "pets",
    "platitudes": "life", "politics": "politics", "pratchett": "wizards", "riddles": "riddles",
    "science": "science", "songs-poems": "songs", "sports": "sports", "startrek": "Star Trek",
    "tao": "the Tao", "wisdom": "wisdom", "work": "work",
}
TOPIC_PROMPTS = [
    "Tell me a fortune about {t}.",
    "Give me a quote about {t}.",
    "Say something about {t}.",
    "What do you know about {t}?",
]
HELDOUT_SHARE = 0.04
MAX_CHARS = 420  # longer sayings train as raw text only (they would not fit a 128-token answer)


def sayings(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for part in re.split(r"\n%\n", text):
        s = " ".join(part.split())
        if len(s) >= 8:
            yield s


def completion_prompt(s, rng):
    words = s.split()
    k = min(len(words) - 1, rng.randint(3, 6))
    return "Complete this: " + " ".join(words[:k])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    items = []
    for name in sorted(os.listdir(SRC)):
        if "." in name or name in SKIP or name not in TOPIC:
            continue
        items += [(name, s) for s in sayings(os.path.join(SRC, name))]
    seen, unique = set(), []
    for name, s in items:
        if s not in seen:
            seen.add(s)
            unique.append((name, s))
    rng.shuffle(unique)
    n_held = int(len(unique) * HELDOUT_SHARE)
    held, train = unique[:n_held], unique[n_held:]

    sft, raw = [], []
    for name, s in train:
        raw.append(s)
        if len(s) > MAX_CHARS:
            continue
        t = TOPIC[name]
        sft.append([rng.choice(TOPIC_PROMPTS).format(t=t), s])
        sft.append([completion_prompt(s, rng), s])
    # Twenty held-out prompts: twelve completions of held-out sayings, eight subject prompts.
    short = [(n, s) for n, s in held if len(s.split()) >= 8 and len(s) <= MAX_CHARS]
    prompts = [completion_prompt(s, rng) for _, s in short[:12]]
    subjects = ["love", "computers", "work", "food", "science", "politics", "the future", "books"]
    prompts += [TOPIC_PROMPTS[i % len(TOPIC_PROMPTS)].format(t=t) for i, t in enumerate(subjects)]

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "tokenizer-corpus.txt"), "w", encoding="utf-8") as f:
        for s in raw:
            f.write(s + "\n")
    with open(os.path.join(a.out, "texts.json"), "w", encoding="utf-8") as f:
        json.dump({"sft": sft, "raw": raw}, f, ensure_ascii=False)
    with open(os.path.join(a.out, "heldout.json"), "w", encoding="utf-8") as f:
        json.dump({"prompts": prompts, "texts": [s for _, s in held]}, f, ensure_ascii=False, indent=1)
    print(f"{len(unique)} sayings: {len(train)} train ({len(sft)} prompt/answer pairs), {len(held)} held out;"
          f" {sum(map(len, raw))} characters of training text")


if __name__ == "__main__":
    main()
