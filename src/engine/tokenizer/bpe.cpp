#include "engine/tokenizer/bpe.h"

#include "core/error.h"
#include "engine/tokenizer/utf8.h"

#include <queue>

namespace dlmscope::tok {

// ---- loading ------------------------------------------------------------------------------

namespace {

// A key the engine implements with one value only; `ok` decides, absent/null always passes.
template <typename Ok>
void require_key(const JsonNode& model, std::string_view key, Ok ok, std::string_view supported) {
    if (auto v = model.find(key); v && !ok(v->raw()))
        v->fail_here(fmt::format("unsupported value {} (dlmscope supports {})", v->raw().dump(), supported));
}

}  // namespace

Bpe Bpe::parse(const JsonNode& model) {
    if (auto type = model.find("type"); type && type->string() != "BPE")
        type->fail_here(fmt::format("unsupported model '{}' (only BPE is supported)", type->string()));
    require_key(model, "byte_fallback", [](const json& v) { return v == false; }, "false only");
    require_key(model, "ignore_merges", [](const json& v) { return v == false; }, "false only");
    require_key(model, "dropout", [](const json& v) { return v.is_number() && v.get<double>() == 0.0; },
                "null or 0 only: dropout makes encoding random");
    require_key(model, "continuing_subword_prefix", [](const json& v) { return v == ""; }, "null only");
    require_key(model, "end_of_word_suffix", [](const json& v) { return v == ""; }, "null only");

    Bpe bpe;
    // vocab: {"token": id, ...}
    const JsonNode vocab = model.at("vocab");
    bpe.vocab_.reserve(vocab.object().size());
    for (const auto& [token, id_json] : vocab.object()) {
        const int32_t id = JsonNode(id_json, model.file(), vocab.path() + "[\"" + token + "\"]").id();
        if (id >= kMaxVocab) vocab.fail_here(fmt::format("id {} of token '{}' is implausibly large", id, token));
        if (static_cast<size_t>(id) >= bpe.tokens_.size()) bpe.tokens_.resize(id + 1);
        if (!bpe.tokens_[id].empty())
            vocab.fail_here(fmt::format("id {} is used by both '{}' and '{}'", id, bpe.tokens_[id], token));
        if (token.empty()) vocab.fail_here(fmt::format("empty token string for id {}", id));
        bpe.tokens_[id] = token;
        bpe.vocab_.emplace(token, id);
    }
    for (int b = 0; b < 256; ++b) {
        std::string spelled;
        append_utf8(spelled, byte_char(static_cast<uint8_t>(b)));
        bpe.byte_ids_[b] = bpe.find(spelled).value_or(-1);
    }

    // merges: ["a b", ...] (written by older library versions) or [["a", "b"], ...]. The rank
    // is the position; a repeated pair keeps its last rank, as the library's HashMap build does.
    const JsonNode merges = model.at("merges");
    const auto& list = merges.array();
    bpe.merges_.reserve(list.size());
    int32_t rank = 0;
    for (size_t i = 0; i < list.size(); ++i) {
        const JsonNode m = merges.at(i);
        std::string a, b;
        if (m.raw().is_string()) {
            const std::string line = m.string();
            if (line.starts_with("#version")) continue;  // header line of old merges.txt files
            const size_t sp = line.find(' ');
            if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
                m.fail_here(fmt::format("merge '{}' is not two tokens separated by one space", line));
            a = line.substr(0, sp), b = line.substr(sp + 1);
        } else if (m.raw().is_array() && m.array().size() == 2) {
            a = m.at(0).string(), b = m.at(1).string();
        } else {
            m.fail_here(fmt::format("expected \"a b\" or [\"a\", \"b\"], got {}", m.raw().dump()));
        }
        const auto ia = bpe.find(a), ib = bpe.find(b), iab = bpe.find(a + b);
        if (!ia || !ib || !iab)
            m.fail_here(fmt::format("merge '{} {}' uses a token missing from model.vocab ('{}')", a, b,
                                    !ia ? a : !ib ? b : a + b));
        bpe.merges_[pair_key(*ia, *ib)] = Merge{rank++, *iab};
    }

    if (auto unk = model.find("unk_token")) {
        const std::string u = unk->string();
        bpe.unk_id_ = bpe.find(u);
        if (!bpe.unk_id_) unk->fail_here(fmt::format("unk_token '{}' is not in model.vocab", u));
    }
    bpe.fuse_unk_ = model.flag("fuse_unk", false);
    return bpe;
}

std::optional<int32_t> Bpe::find(std::string_view token) const {
    auto it = vocab_.find(std::string(token));
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

// ---- encoding -----------------------------------------------------------------------------

void Bpe::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
    // Symbols in a doubly linked list over a vector; a merged-away symbol gets id -1.
    struct Symbol {
        int32_t id;
        int32_t prev, next;
    };
    std::vector<Symbol> sym;
    sym.reserve(bytes.size());
    bool prev_unknown = false;
    for (char ch : bytes) {
        int32_t id = byte_ids_[static_cast<uint8_t>(ch)];
        // A byte missing from the vocab becomes unk (one unk for a run of them with fuse_unk),
        // or is dropped without a trace when there is no unk token: the library's behaviour.
        const bool unknown = id < 0;
        if (unknown) {
            if (!unk_id_ || (fuse_unk_ && prev_unknown)) continue;
            id = *unk_id_;
        }
        prev_unknown = unknown;
        const auto n = static_cast<int32_t>(sym.size());
        sym.push_back({id, n - 1, n + 1});
    }
    if (sym.empty()) return;
    sym.back().next = -1;

    // Candidate merges ordered by rank, then by position (leftmost first). Entries can go
    // stale when a neighbour merges first; they are re-checked when popped.
    struct Candidate {
        int32_t rank, pos, new_id;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto push_pair = [&](int32_t pos) {
        const int32_t nxt = sym[pos].next;
        if (nxt < 0) return;
        if (auto it = merges_.find(pair_key(sym[pos].id, sym[nxt].id)); it != merges_.end())
            queue.push({it->second.rank, pos, it->second.new_id});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) push_pair(i);

    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol& left = sym[top.pos];
        if (left.id < 0 || left.next < 0) continue;
        Symbol& right = sym[left.next];
        // Stale check as in the library: the pair now at pos must still merge into new_id.
        auto it = merges_.find(pair_key(left.id, right.id));
        if (it == merges_.end() || it->second.new_id != top.new_id) continue;

        left.id = top.new_id;
        right.id = -1;
        left.next = right.next;
        if (left.next >= 0) sym[left.next].prev = top.pos;
        if (left.prev >= 0) push_pair(left.prev);
        push_pair(top.pos);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace dlmscope::tok
