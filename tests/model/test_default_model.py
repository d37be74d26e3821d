#!/usr/bin/python3
"""The bundled default model has learned English, and it is what `dlmscope generate` runs.

usage: test_default_model.py DLMSCOPE EVAL_TOOL DEFAULT_MODEL RANDOM_MODEL WORK

Runs dlmscope-eval-model on both models (20 held-out prompts at generate's defaults; masked-token
loss on 100 held-out sayings) and checks:
  * most generated words of the trained model are dictionary words, far more than the random model's;
  * its masked-token loss in bits per byte is far below the random model's;
  * its answers read as sayings, not loops: at most 15% of their word 4-grams repeat one earlier in
    the same answer, every answer ends at <|eot_id|>/<|endoftext|> well before the 128 positions
    are filled;
  * the prompt steers the answer: at least 20% of a prompt's topic words appear in its own answer, 10
    points more than in the next prompt's, and at least 3 of the 12 completion prompts ("Complete
    this: <the first words of a held-out saying>") are answered starting with every word given;
  * `dlmscope generate PROMPT -q` with no --model gives the trained model's answer to that prompt.
Prints "N passed, M failed" and exits non-zero on any failure.
"""
import json
import os
import subprocess
import sys

dlmscope, tool, default_model, random_model, work = sys.argv[1:6]
os.makedirs(work, exist_ok=True)
heldout = os.path.join(default_model, "heldout.json")
results, passed, failed = {}, 0, 0


def check(ok, what):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what)
    passed, failed = passed + ok, failed + (not ok)


for name, model in (("trained", default_model), ("random", random_model)):
    out = os.path.join(work, name + ".json")
    subprocess.run([tool, "--model", model, "--heldout", heldout, "--json", out], check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        results[name] = json.load(f)
    r = results[name]
    print(f"{name}: dictionary words {r['dictionary_word_share']:.3f} ({r['dictionary_words']}/{r['words']}), "
          f"loss {r['masked_loss_nats_per_token']:.3f} nats/token, {r['masked_loss_bits_per_byte']:.3f} bits/byte")

t, r = results["trained"], results["random"]
check(t["words"] >= 100, f"the trained model writes words ({t['words']} in 20 answers)")
check(t["dictionary_word_share"] >= 0.85, f"dictionary-word share {t['dictionary_word_share']:.3f} >= 0.85")
check(t["dictionary_word_share"] > r["dictionary_word_share"] + 0.3, "well above the random model's share")
check(t["masked_loss_bits_per_byte"] < 0.5 * r["masked_loss_bits_per_byte"],
      f"loss {t['masked_loss_bits_per_byte']:.3f} bits/byte < half the random model's {r['masked_loss_bits_per_byte']:.3f}")

check(t["repeated_four_gram_share"] <= 0.15, f"repeated word 4-grams {t['repeated_four_gram_share']:.3f} <= 0.15")
check(t["stopped_answers"] == len(t["answers"]) and t["mean_text_tokens"] <= 64,
      f"every answer stops ({t['stopped_answers']} of {len(t['answers'])}, mean {t['mean_text_tokens']:.1f} text tokens <= 64)")
check(t["topic_overlap_own"] >= 0.2 and t["topic_overlap_own"] >= t["topic_overlap_next"] + 0.1,
      f"prompts steer: topic words in their own answer {t['topic_overlap_own']:.3f} >= 0.2 and >= 0.1 above "
      f"in the next's {t['topic_overlap_next']:.3f}")
check(t["completions_continued"] >= 3,
      f"completion prompts are continued: {t['completions_continued']} of {t['completion_prompts']} answers "
      f"start with every given word (>= 3)")
env = {k: v for k, v in os.environ.items() if k != "DLMSCOPE_MODEL"}
first = t["answers"][0]
cli = subprocess.run([dlmscope, "generate", first["prompt"], "-q"], env=env, check=True, capture_output=True, text=True)
check(cli.stdout.rstrip("\n") == first["answer"], "`dlmscope generate` without --model runs the trained model")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
