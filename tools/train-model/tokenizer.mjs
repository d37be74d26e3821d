// Trains the default model's byte-level BPE tokenizer with Hugging Face tokenizers and encodes the
// training text with it.
//
// usage: node tokenizer.mjs WORK MODEL_DIR VOCAB
//   WORK       folder written by prepare.py (tokenizer-corpus.txt, texts.json, heldout.json)
//   MODEL_DIR  where tokenizer.json goes
//   VOCAB      ordinary vocabulary size (the six special tokens follow it)
//
// The trainer runs to its default 30 000 entries; the tokenizer keeps the full byte alphabet and the
// first VOCAB - 256 merges, which is what a trainer stopped at that size learns (BPE merges are
// chosen greedily, one at a time, so a shorter run is a prefix of a longer one).
// Writes WORK/ids.json: {"sft": [{"mmada": [prompt ids, answer ids], "llada": [...]}, ...],
//                        "raw": [ids, ...], "heldout": [ids, ...], "separator": ids of "\n\n"}.
import fs from 'node:fs'
import path from 'node:path'
import tk from 'tokenizers'
import { chatPrompt } from './chat.mjs'

const { Tokenizer } = tk
const [work, modelDir, vocabArg] = process.argv.slice(2)
if (!work || !modelDir || !vocabArg) {
  console.error('usage: node tokenizer.mjs WORK MODEL_DIR VOCAB')
  process.exit(2)
}
const VOCAB = Number(vocabArg)

// The pre-tokenizer, post-processor and decoder of the LLaDA/MMaDA tokenizer.json.
const SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const SPECIALS = ['<|startoftext|>', '<|endoftext|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>', '<|mdm_mask|>']

function spec(vocab, merges, added) {
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: SPLIT }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
             fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  }
}

// 1. Train.
const trainer = Tokenizer.fromString(JSON.stringify(spec({}, [], [])))
trainer.train([path.join(work, 'tokenizer-corpus.txt')])
trainer.save(path.join(work, 'tokenizer-trained.json'), false)
const full = JSON.parse(fs.readFileSync(path.join(work, 'tokenizer-trained.json'), 'utf8'))
const trainedVocab = Object.entries(full.model.vocab).sort((a, b) => a[1] - b[1]).map(e => e[0])
const alphabetSize = trainedVocab.length - full.model.merges.length

// 2. Keep the whole byte alphabet, then the first merges.
const vocab = {}
const add = tok => { if (!(tok in vocab)) vocab[tok] = Object.keys(vocab).length }
trainedVocab.slice(0, alphabetSize).forEach(add)
tk.byteLevelAlphabet().sort().forEach(add)
if (Object.keys(vocab).length !== 256) throw new Error(`byte alphabet has ${Object.keys(vocab).length} symbols, not 256`)
const merges = full.model.merges.slice(0, VOCAB - 256)
for (const [i, m] of merges.entries()) {
  const [a, b] = Array.isArray(m) ? m : m.split(' ')
  if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${i} uses a token outside the kept vocabulary`)
  add(trainedVocab[alphabetSize + i])
}
if (Object.keys(vocab).length !== VOCAB) throw new Error(`vocabulary has ${Object.keys(vocab).length} entries, not ${VOCAB}`)
const added = SPECIALS.map((content, i) => ({ id: VOCAB + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }))
fs.mkdirSync(modelDir, { recursive: true })
fs.writeFileSync(path.join(modelDir, 'tokenizer.json'), JSON.stringify(spec(vocab, merges, added), null, 1) + '\n')
fs.rmSync(path.join(work, 'tokenizer-trained.json'))

// 3. Encode with the saved file, as every user of it will.
const tok = Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json'))
const ids = async s => (await tok.encode(s, null, { addSpecialTokens: false })).getIds()
const texts = JSON.parse(fs.readFileSync(path.join(work, 'texts.json'), 'utf8'))
const held = JSON.parse(fs.readFileSync(path.join(work, 'heldout.json'), 'utf8'))
const out = { sft: [], raw: [], heldout: [], separator: await ids('\n\n') }
for (const [prompt, answer] of texts.sft) {
  const row = {}
  for (const [name, nl] of [['mmada', '\n'], ['llada', '\n\n']]) {
    const p = chatPrompt(prompt, nl)
    const pi = await ids(p)
    const all = await ids(p + answer + '<|eot_id|>')
    if (all.slice(0, pi.length).join() !== pi.join()) throw new Error(`prompt does not encode as a prefix: ${prompt}`)
    row[name] = [pi, all.slice(pi.length)]
  }
  out.sft.push(row)
}
for (const s of texts.raw) out.raw.push(await ids(s))
for (const s of held.texts) out.heldout.push(await ids(s))
fs.writeFileSync(path.join(work, 'ids.json'), JSON.stringify(out))
const n = out.raw.reduce((a, r) => a + r.length, 0)
const chars = texts.raw.reduce((a, r) => a + r.length, 0)
console.log(`tokenizer: ${VOCAB} + ${SPECIALS.length} special tokens; training text ${n} tokens (${(chars / n).toFixed(2)} characters per token)`)
