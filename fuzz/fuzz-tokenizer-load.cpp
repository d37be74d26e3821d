// Fuzzes tokenizer.json loading (added tokens, normalizer, pre-tokenizer regexes, BPE vocab and
// merges, decoder), then uses what loaded. The input is the file, optionally followed by a NUL byte
// (never valid inside JSON) and a text to encode with it; without one a fixed sample text is used.
#include "engine/tokenizer/tokenizer.h"
#include "fuzz-util.h"

#include <cstring>
#include <string_view>

using namespace dlmscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const fuzz::ScratchDir dir("tokenizer-load");
    const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
    const size_t json_size = nul ? static_cast<size_t>(nul - data) : size;
    const std::string_view text = nul ? std::string_view(reinterpret_cast<const char*>(nul) + 1, size - json_size - 1)
                                      : std::string_view("Hello, world! <|eot_id|> 123 caf\xc3\xa9  \n\t x");
    const std::string path = dir.write("tokenizer.json", data, json_size);
    try {
        const Tokenizer tok = Tokenizer::load(path);
        for (bool split_special : {false, true}) {
            const std::vector<int32_t> ids = tok.encode(text, split_special);
            for (int32_t id : ids) {
                DLM_ASSERT(id >= 0 && id < tok.size());
                (void)tok.piece(id);
                if (const auto back = tok.token_to_id(tok.id_to_token(id))) DLM_ASSERT(*back >= 0 && *back < tok.size());
            }
            (void)tok.decode(ids, false);
            (void)tok.decode(ids, true);
            (void)tok.pretokenize(text, split_special);
        }
        // Needs the header tokens, which a fuzzed file may lack: then an Error naming them.
        (void)tok.encode(tok.apply_chat_template(text, ChatTemplate::llada));
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
