// Golden tokenizer records for the default model's tokenizer.json, made by Hugging Face tokenizers:
// the C++ tokenizer must reproduce them (tests/unit/test-tokenizer.cpp, TokenizerGolden.DefaultModel).
//
// usage: node golden.mjs MODEL_DIR OUT.jsonl
// Cases: 40 held-out prompts through the mmada chat template, 40 held-out sayings, 20 edge cases.
import fs from 'node:fs'
import path from 'node:path'
import tk from 'tokenizers'
import { chatPrompt } from './chat.mjs'

const [modelDir, outPath] = process.argv.slice(2)
if (!modelDir || !outPath) {
  console.error('usage: node golden.mjs MODEL_DIR OUT.jsonl')
  process.exit(2)
}
const tok = tk.Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json'))
const held = JSON.parse(fs.readFileSync(path.join(modelDir, 'heldout.json'), 'utf8'))
const chat = p => chatPrompt(p, '\n')
const edge = [
  '', ' ', '\n\n', '  leading and trailing  ', 'tabs\tand\r\nwindows lines', "It's, isn't, we'll, they'VE",
  '1234567 + 89 = 1234656', 'naïve café résumé', 'Ελληνικά και русский', '日本語のテキスト', 'emoji 🎉🚀 done',
  '<|endoftext|>text<|mdm_mask|><|mdm_mask|>', '<|eot_id|> spaced <|start_header_id|>', 'half <|endof', '\u00a0nbsp\u2003em',
  '"Quoted," she said -- "twice."', 'e-mail: user@example.org; URL http://x.y/z?q=1', '   \n  \n',
  'ALL CAPS WORDS', 'zero\u200bwidth',
]
const texts = [...held.prompts.slice(0, 20).map(chat), ...held.texts.slice(0, 20).map(chat),
               ...held.texts.slice(20, 60), ...edge]
const lines = []
for (const [i, text] of texts.entries()) {
  const enc = await tok.encode(text, null, { addSpecialTokens: false })
  const ids = enc.getIds()
  lines.push(JSON.stringify({
    kind: 'encode', tokenizer: 'mmada-fortunes', case: i, text, ids, tokens: enc.getTokens(),
    decode: await tok.decode(ids, false), decode_skip_special: await tok.decode(ids, true),
  }))
}
fs.writeFileSync(outPath, lines.join('\n') + '\n')
console.log(`${lines.length} records -> ${outPath}`)
