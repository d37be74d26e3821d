// dlmscope engine: Hugging Face tokenizer.json (byte-level BPE) and chat templates.
//
// Implements exactly what the LLaDA/MMaDA tokenizers use (spec section 7, fixture MANIFEST section 3):
//   added tokens (special and not)  -> cut out of the text first (exact, case-sensitive match,
//                                      leftmost-longest), unless split_special is requested
//   normalizer                      -> null only (anything else is refused, naming the key)
//   pre_tokenizer                   -> Split(regex, Isolated) and/or ByteLevel, alone or in a Sequence
//   model                           -> BPE with merges as "a b" strings or ["a","b"] pairs
//   decoder                         -> ByteLevel (bytes -> UTF-8, invalid sequences -> U+FFFD)
// Encoding matches the Hugging Face `tokenizers` library id for id on the golden files.
#pragma once

#include "dlmscope/types.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dlmscope {

class Tokenizer {
public:
    // Loads DIR/tokenizer.json (or the file itself when given a .json path).
    // Throws Error naming the file and key on anything malformed or unsupported.
    static Tokenizer load(const std::string& path);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // Encodes text. With split_special = false, added-token text inside `text` becomes that
    // token's id; with true, special-token text is tokenized as ordinary text (non-special
    // added tokens still match, as in transformers' split_special_tokens=True). Adds no
    // BOS/EOS. Invalid UTF-8 in `text` is first repaired (one U+FFFD per invalid subpart).
    std::vector<int32_t> encode(std::string_view text, bool split_special = false) const;

    // The pre-tokenized pieces (added tokens and regex pieces) as plain UTF-8 text.
    std::vector<std::string> pretokenize(std::string_view text, bool split_special = false) const;

    // Decodes ids to UTF-8. Ids outside the tokenizer (e.g. image-code rows) are dropped,
    // as the Hugging Face library does; skip_special drops special added tokens.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special) const;

    // The vocabulary string of one id ("Ġthe", "<|eot_id|>"), or "" if out of range.
    std::string id_to_token(int32_t id) const;
    // Human-readable text of one id: its decoded bytes for ordinary tokens (may be partial
    // UTF-8, shown with U+FFFD), or the token text for added tokens. "" when out of range.
    std::string piece(int32_t id) const;
    std::optional<int32_t> token_to_id(std::string_view token) const;
    bool is_special(int32_t id) const;

    // Number of ids the tokenizer knows (ordinary + added), i.e. len(tokenizer) in Python.
    int32_t size() const;

    // Renders a single user message with a chat template (content trimmed of leading and
    // trailing whitespace for llada/mmada) including the assistant generation prompt.
    std::string apply_chat_template(std::string_view user_message, ChatTemplate tmpl) const;

private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace dlmscope
