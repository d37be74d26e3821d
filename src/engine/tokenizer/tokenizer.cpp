// dlmscope engine: Tokenizer — loading tokenizer.json and the encode/decode pipeline.
//
// encode:  text -> [repair invalid UTF-8] -> cut out added tokens -> pre-tokenize each plain
//          segment -> BPE each piece -> ids
// decode:  ids -> vocab strings -> ByteLevel decoder (characters -> bytes) -> lossy UTF-8
#include "engine/tokenizer/tokenizer.h"

#include "core/error.h"
#include "core/json.h"
#include "engine/tokenizer/tokenizer-impl.h"
#include "engine/tokenizer/utf8.h"

#include <algorithm>
#include <filesystem>

namespace dlmscope {

namespace {

// Invalid UTF-8 in the input cannot reach the library (Python and Rust strings are always
// valid), so there is no reference behaviour; we repair it the way the decoder does
// (one U+FFFD per maximal invalid subpart) rather than refuse a whole prompt over one byte.
std::string_view repaired(std::string_view text, std::string& storage) {
    if (tok::is_valid_utf8(text)) return text;
    storage = tok::utf8_lossy(text);
    return storage;
}

}  // namespace

// ---- loading ------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
    auto impl = std::make_unique<Impl>();
    std::error_code ec;  // a path the system refuses is read as a file, and read_json_file names the reason
    impl->file = std::filesystem::is_directory(path, ec) ? (std::filesystem::path(path) / "tokenizer.json").string() : path;
    const json j = read_json_file(impl->file);
    const tok::JsonNode root(j, impl->file, "");
    root.object();  // fails unless the top level is an object

    // Stages the library would apply that we do not implement are refused by name, so a
    // checkpoint with, say, an NFC normalizer fails loudly instead of encoding differently.
    if (auto n = root.find("normalizer")) {
        const auto type = n->raw().is_object() ? n->find("type") : std::nullopt;
        n->fail_here(fmt::format("unsupported normalizer {} (only null is supported)",
                                 type && type->raw().is_string() ? fmt::format("'{}'", type->string()) : n->raw().dump()));
    }
    const tok::JsonNode decoder = root.at("decoder");
    if (decoder.is_null() || decoder.at("type").string() != "ByteLevel")
        decoder.fail_here(fmt::format("unsupported decoder {} (only ByteLevel is supported)", decoder.raw().dump()));
    // post_processor is ignored on purpose: encode() never adds BOS/EOS (it equals the
    // library's encode(text, add_special_tokens=False)), and truncation/padding are not ours.

    impl->pre = tok::PreTokenizer::parse(root.at("pre_tokenizer"));
    impl->bpe = tok::Bpe::parse(root.at("model"));
    if (auto list = root.find("added_tokens")) impl->added = tok::AddedTokens::parse(*list);

    int32_t size = static_cast<int32_t>(impl->bpe.tokens().size());
    for (const tok::AddedToken& t : impl->added.all()) size = std::max(size, t.id + 1);
    impl->size = size;
    impl->added_at.assign(size, -1);
    for (size_t i = 0; i < impl->added.all().size(); ++i) {
        const tok::AddedToken& t = impl->added.all()[i];
        impl->added_at[t.id] = static_cast<int32_t>(i);
        impl->added_ids.emplace(t.content, t.id);
    }
    return Tokenizer(std::move(impl));
}

// ---- encoding -----------------------------------------------------------------------------

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool split_special) const {
    std::string storage;
    text = repaired(text, storage);
    std::vector<int32_t> ids;
    std::vector<std::string> pieces;
    for (const tok::Segment& seg : impl_->added.split(text, split_special)) {
        if (seg.id >= 0) {
            ids.push_back(seg.id);
            continue;
        }
        pieces.clear();
        impl_->pre.run(seg.text, pieces);
        for (const std::string& p : pieces) impl_->bpe.encode_piece(p, ids);
    }
    return ids;
}

std::vector<std::string> Tokenizer::pretokenize(std::string_view text, bool split_special) const {
    std::string storage;
    text = repaired(text, storage);
    std::vector<std::string> pieces;
    for (const tok::Segment& seg : impl_->added.split(text, split_special)) {
        if (seg.id >= 0)
            pieces.emplace_back(seg.text);
        else
            impl_->pre.run(seg.text, pieces);
    }
    return pieces;
}

// ---- decoding -----------------------------------------------------------------------------

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    // The library's ByteLevel decoder: each token's characters map back to bytes; a token with
    // any character outside the byte alphabet (an added token such as "<think> ") contributes
    // its own UTF-8 instead. All bytes are joined first, then made UTF-8 once, so a character
    // split across tokens survives and only genuinely broken sequences become U+FFFD.
    std::string bytes;
    for (int32_t id : ids) {
        if (id < 0 || id >= impl_->size) continue;  // e.g. image-code rows: dropped, as the library does
        if (skip_special && is_special(id)) continue;
        const std::string token = id_to_token(id);
        if (token.empty()) continue;  // a gap in the vocab
        const auto raw = tok::from_byte_level(token);
        bytes += raw ? *raw : token;
    }
    return tok::utf8_lossy(bytes);
}

std::string Tokenizer::piece(int32_t id) const {
    if (const tok::AddedToken* t = impl_->added_token(id)) return t->content;
    const std::string token = id_to_token(id);
    const auto raw = tok::from_byte_level(token);
    return tok::utf8_lossy(raw ? *raw : token);
}

// ---- vocabulary ---------------------------------------------------------------------------

std::string Tokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= impl_->size) return "";
    if (const tok::AddedToken* t = impl_->added_token(id)) return t->content;
    const auto& tokens = impl_->bpe.tokens();
    return static_cast<size_t>(id) < tokens.size() ? tokens[id] : "";
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
    // Added tokens first, as the library does (they may shadow a vocab entry).
    if (auto it = impl_->added_ids.find(std::string(token)); it != impl_->added_ids.end()) return it->second;
    return impl_->bpe.find(token);
}

bool Tokenizer::is_special(int32_t id) const {
    const tok::AddedToken* t = impl_->added_token(id);
    return t && t->special;
}

int32_t Tokenizer::size() const { return impl_->size; }

}  // namespace dlmscope
