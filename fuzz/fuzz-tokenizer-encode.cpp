// Fuzzes encoding and chat templating of arbitrary text with the real byte-level BPE tokenizer of
// tests/fixtures/mmada-tiny/tokenizer (loaded once). The first input byte picks the options
// (bit 0: split_special, bits 1-2: none | llada | mmada template), the rest is the text.
//
// Checked: every id is in the vocabulary; decoding gives back the text (invalid UTF-8 repaired
// to U+FFFD, as encode promises), with and without split_special; the chat template wraps the
// trimmed text in the headers and encodes to the BOS token first.
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "fuzz-util.h"

#include <string_view>

using namespace dlmscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Tokenizer tok = Tokenizer::load(std::string(DLMSCOPE_SOURCE_DIR) + "/tests/fixtures/mmada-tiny/tokenizer");
    if (size == 0) return 0;
    const bool split_special = data[0] & 1;
    const ChatTemplate tmpl = static_cast<ChatTemplate>((data[0] >> 1) % 3);
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        const std::vector<int32_t> ids = tok.encode(text, split_special);
        for (int32_t id : ids) DLM_ASSERT(id >= 0 && id < tok.size());
        DLM_ASSERT(tok.decode(ids, false) == tok::utf8_lossy(text));
        for (int32_t id : ids) (void)tok.piece(id);
        DLM_ASSERT(!tok.pretokenize(text, split_special).empty() || text.empty());

        const std::string prompt = tok.apply_chat_template(text, tmpl);
        const std::vector<int32_t> prompt_ids = tok.encode(prompt);
        if (tmpl == ChatTemplate::none) {
            DLM_ASSERT(prompt == text);
        } else {
            DLM_ASSERT(prompt.starts_with("<|startoftext|><|start_header_id|>user<|end_header_id|>"));
            DLM_ASSERT(prompt.ends_with(tmpl == ChatTemplate::llada ? "assistant<|end_header_id|>\n\n" : "assistant<|end_header_id|>\n"));
            DLM_ASSERT(!prompt_ids.empty() && prompt_ids[0] == *tok.token_to_id("<|startoftext|>"));
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
