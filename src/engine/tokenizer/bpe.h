// dlmscope tokenizer (internal): the BPE model of tokenizer.json ("model": {"type": "BPE"}).
//
// Works on bytes: a piece's initial symbols are its bytes (their vocab spelling is the GPT-2
// byte-level character), then the lowest-ranked adjacent merge is applied until none is left,
// with a priority queue over a linked list of symbols (O(n log n) per piece), replaying the
// `tokenizers` library's Word::merge_all step for step. No stability guarantee.
#pragma once

#include "engine/tokenizer/json-node.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dlmscope::tok {

class Bpe {
public:
    // Reads the "model" value (vocab, merges as "a b" strings or ["a", "b"] pairs).
    static Bpe parse(const JsonNode& model);

    // Appends the ids of one pre-tokenized piece (raw bytes).
    void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;

    // The vocab entries: token (byte-level spelling) by id; "" marks an id the vocab lacks.
    const std::vector<std::string>& tokens() const { return tokens_; }
    std::optional<int32_t> find(std::string_view token) const;

private:
    struct Merge {
        int32_t rank;
        int32_t new_id;
    };
    static uint64_t pair_key(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }

    std::unordered_map<std::string, int32_t> vocab_;
    std::vector<std::string> tokens_;
    std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> rank, merged id
    int32_t byte_ids_[256] = {};                  // id of each single byte, -1 if not in vocab
    std::optional<int32_t> unk_id_;
    bool fuse_unk_ = false;
};

}  // namespace dlmscope::tok
