"""The seed README's Python examples, verbatim except for the import line (and, where the seed's
"... your generation code ..." stands, one generate call)."""

import os
import subprocess
import sys
import textwrap

import pytest

EXAMPLE_QUICK_START = '''
from dlmscope import generate_text

# Generate text with attention visualization enabled
generated_text, history, tokenizer, history_file, attention_maps = generate_text(
    prompt="What is the capital of France?",
    gen_length=128,
    steps=128,
    block_length=32,
    save_history=True,
    visualize_attention=True  # Enable attention capture
)

print(f"Generated text: {generated_text}")
print(f"Captured attention from {len(attention_maps)} modules")
'''

EXAMPLE_SIMPLE = '''
from dlmscope import generate_text

# Generate with attention visualization
result = generate_text(
    "Explain quantum computing in simple terms",
    gen_length=256,
    steps=256,
    block_length=64,
    save_history=True,
    visualize_attention=True
)

# Extract results
if len(result) == 5:
    text, history, tokenizer, history_file, attention_maps = result
    print(f"Captured attention from {len(attention_maps)} modules")
else:
    text, history, tokenizer, history_file = result
    print("Attention visualization was not enabled")
'''

EXAMPLE_HOOK = '''
import dlmscope
from dlmscope import AttentionHook
model = dlmscope.load()

# Create custom attention hook
attention_hook = AttentionHook(model)

# Register hooks
attention_hook.register_hooks()

# Set generation context
attention_hook.set_generation_context(step=0, block=0)

# Generate text (hooks will automatically capture attention)
model.generate_text("Hi", gen_length=32, steps=8, block_length=32)

# Get captured attention maps
attention_maps = attention_hook.get_attention_maps()

# Clean up
attention_hook.remove_hooks()
print(f"maps {len(attention_maps)} detached {model._core.observer_count == 0}")
'''


def run(code, cwd):
    import dlmscope  # the same package as this test's, from any working directory
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(dlmscope.__file__))))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_quick_start(tmp_path):
    out = run(EXAMPLE_QUICK_START, tmp_path)
    lines = out.strip().splitlines()
    assert lines[0].startswith("Generated text: ") and len(lines[0]) > len("Generated text: ")
    # 128 steps × 4 layers of the bundled model, every one a (step, layer) map.
    assert lines[-1] == "Captured attention from 512 modules"
    assert (tmp_path / "logs" / "generation_with_attention.json").exists()
    # A second run keeps the first and writes beside it.
    run(EXAMPLE_QUICK_START, tmp_path)
    assert (tmp_path / "logs" / "generation_with_attention-2.json").exists()


def test_simple_generation_with_attention(tmp_path):
    assert run(EXAMPLE_SIMPLE, tmp_path).strip() == "Captured attention from 1024 modules"


def test_custom_attention_hook(tmp_path):
    # 8 steps × 4 layers; the hook is detached afterwards.
    assert run(EXAMPLE_HOOK, tmp_path).strip() == "maps 32 detached True"
