#include "engine/tokenizer/pretokenize.h"

#include "core/error.h"

namespace dlmscope::tok {

namespace {

// The regex the ByteLevel pre-tokenizer applies when use_regex is true (GPT-2's, as the
// `tokenizers` library hard-codes it in pre_tokenizers/byte_level.rs).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Split's {"String": "..."} pattern is literal text: escape every ASCII punctuation character.
std::string quote_literal(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (std::string_view("\\^$.|?*+()[]{}-#/").find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

}  // namespace

PreTokenizer::Step PreTokenizer::parse_step(const JsonNode& node) {
    const std::string type = node.at("type").string();
    Step step;
    if (type == "ByteLevel") {
        step.kind = Step::Kind::byte_level;
        step.add_prefix_space = node.flag("add_prefix_space", true);  // the library's defaults
        if (node.flag("use_regex", true)) step.regex.emplace(kGpt2Pattern, node.file() + ": " + node.path());
        return step;
    }
    if (type == "Split") {
        step.kind = Step::Kind::split;
        const JsonNode pattern = node.at("pattern");
        std::string regex;
        if (auto r = pattern.find("Regex")) {
            regex = r->string();
        } else if (auto s = pattern.find("String")) {
            regex = quote_literal(s->string());
        } else {
            pattern.fail_here("expected {\"Regex\": ...} or {\"String\": ...}");
        }
        const JsonNode behavior = node.at("behavior");
        if (behavior.string() != "Isolated")
            behavior.fail_here(fmt::format("unsupported value '{}' (only Isolated is supported)", behavior.string()));
        if (node.flag("invert", false)) node.at("invert").fail_here("unsupported value true (only false is supported)");
        step.regex.emplace(regex, node.file() + ": " + node.path() + ".pattern");
        return step;
    }
    node.at("type").fail_here(fmt::format("unsupported pre-tokenizer '{}' (supported: Split, ByteLevel, Sequence)", type));
}

PreTokenizer PreTokenizer::parse(const JsonNode& node) {
    PreTokenizer pt;
    if (node.is_null()) node.fail_here("null is not supported (a ByteLevel pre-tokenizer is required)");
    if (node.at("type").string() == "Sequence") {
        const JsonNode list = node.at("pretokenizers");
        for (size_t i = 0; i < list.array().size(); ++i) pt.steps_.push_back(parse_step(list.at(i)));
    } else {
        pt.steps_.push_back(parse_step(node));
    }
    bool has_byte_level = false;
    for (const Step& s : pt.steps_) has_byte_level |= s.kind == Step::Kind::byte_level;
    if (!has_byte_level) node.fail_here("no ByteLevel pre-tokenizer (dlmscope supports byte-level BPE only)");
    return pt;
}

void PreTokenizer::run(std::string_view segment, std::vector<std::string>& out) const {
    // Each step maps every current piece to zero or more new pieces, as the library's
    // PreTokenizedString::split does; empty pieces are dropped along the way.
    std::vector<std::string> pieces{std::string(segment)};
    std::vector<std::string> next;
    std::vector<std::string_view> cut;
    for (const Step& step : steps_) {
        next.clear();
        for (std::string& piece : pieces) {
            if (step.kind == Step::Kind::byte_level && step.add_prefix_space && piece.front() != ' ')
                piece.insert(piece.begin(), ' ');
            if (!step.regex) {
                next.push_back(std::move(piece));
                continue;
            }
            cut.clear();
            step.regex->split_isolated(piece, cut);
            for (std::string_view c : cut) next.emplace_back(c);
        }
        pieces.swap(next);
    }
    for (std::string& p : pieces) out.push_back(std::move(p));
}

}  // namespace dlmscope::tok
