// dlmscope tokenizer (internal): the pre_tokenizer stage of tokenizer.json.
//
// Supported: Split{pattern Regex|String, behavior Isolated, invert false} and
// ByteLevel{add_prefix_space, use_regex}, alone or in a Sequence, with at least one ByteLevel
// (the BPE model and the ByteLevel decoder work on bytes). Pieces stay plain UTF-8 text here;
// the byte -> vocab-character mapping happens when BPE reads them. No stability guarantee.
#pragma once

#include "engine/tokenizer/json-node.h"
#include "engine/tokenizer/regex.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dlmscope::tok {

class PreTokenizer {
public:
    // Reads the "pre_tokenizer" value; throws Error naming the key for anything unsupported.
    static PreTokenizer parse(const JsonNode& node);

    // Cuts one segment of input (text between added tokens, valid UTF-8, non-empty) into the
    // pieces BPE encodes, appending them to `out`.
    void run(std::string_view segment, std::vector<std::string>& out) const;

private:
    struct Step {
        enum class Kind { split, byte_level } kind;
        std::optional<Regex> regex;    // split: its pattern; byte_level: GPT-2's, if use_regex
        bool add_prefix_space = false;  // byte_level only
    };
    std::vector<Step> steps_;

    static Step parse_step(const JsonNode& node);
};

}  // namespace dlmscope::tok
