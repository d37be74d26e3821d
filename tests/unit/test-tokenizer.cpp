// Tokenizer tests.
//
// [golden]    every record of the golden JSONL files made by the Hugging Face `tokenizers`
//             library (fixture MANIFEST section 3): ids, ids with split_special, pre-tokens,
//             decodes; on a mismatch the expected and actual pieces are printed side by side.
// [prompts]   chat-template renderings must encode to the prompt ids of the reference runs.
// [internals] UTF-8 repair, the Oniguruma->PCRE2 bridge, BPE on long inputs.
// [config]    other supported tokenizer.json shapes (ByteLevel with regex and prefix space,
//             non-special added tokens).
// [errors]    malformed or unsupported tokenizer.json files fail naming the file and key.
#include "engine/tokenizer/tokenizer.h"

#include "core/error.h"
#include "core/json.h"
#include "engine/tokenizer/regex.h"
#include "engine/tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace dlmscope {
namespace {

const std::string kFixtures = DLMSCOPE_FIXTURES_DIR "/mmada-tiny";
const std::string kTinyTokenizer = kFixtures + "/checkpoint/tokenizer.json";
const std::string kSmallTokenizer = kFixtures + "/tokenizer/tokenizer.json";
const std::string kSmallLegacyTokenizer = kFixtures + "/tokenizer/tokenizer_legacy_merges.json";
const std::string kDefaultModel = DLMSCOPE_SOURCE_DIR "/models/mmada-fortunes";
const std::string kFortunesGolden = DLMSCOPE_FIXTURES_DIR "/mmada-fortunes/golden.jsonl";

// ---- helpers ------------------------------------------------------------------------------

std::vector<json> read_jsonl(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::vector<json> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

// Text with control characters made visible, so "\n" and "\t" show in failure messages.
std::string visible(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c == '"') out += "\\\"";
        else if (u < 0x20 || u == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else out += c;
    }
    return out + "\"";
}

// Spaces that pad a cell to 34 columns (counting code points, not bytes), at least one.
std::string pad(const std::string& cell) {
    size_t width = 0;
    for (char c : cell) width += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return std::string(width < 34 ? 34 - width : 1, ' ');
}

// Expected and actual ids as two columns of "id 'piece'", mismatching rows marked with '*'.
std::string side_by_side(const Tokenizer& tok, const std::vector<int32_t>& want, const std::vector<int32_t>& got) {
    std::ostringstream os;
    os << "      expected                          actual\n";
    for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
        const auto cell = [&](const std::vector<int32_t>& v) {
            if (i >= v.size()) return std::string("-");
            return std::to_string(v[i]) + " " + visible(tok.piece(v[i]));
        };
        const std::string w = cell(want), g = cell(got);
        const bool same = i < want.size() && i < got.size() && want[i] == got[i];
        os << (same ? "   " : " * ") << std::setw(3) << i << " " << w << pad(w) << g << "\n";
    }
    return os.str();
}

std::string side_by_side(const std::vector<std::string>& want, const std::vector<std::string>& got) {
    std::ostringstream os;
    for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
        const std::string w = i < want.size() ? visible(want[i]) : "-";
        const std::string g = i < got.size() ? visible(got[i]) : "-";
        os << (w == g ? "   " : " * ") << w << pad(w) << g << "\n";
    }
    return os.str();
}

// Runs every golden record against one tokenizer file; returns the number of passing records.
// "ids_split_special" and "pretokens" are checked where a record has them.
int check_golden(const std::string& tokenizer_path, const std::string& golden_path, int expected_records = 100) {
    const Tokenizer tok = Tokenizer::load(tokenizer_path);
    int passed = 0, total = 0;
    for (const json& rec : read_jsonl(golden_path)) {
        ++total;
        const int n = rec.at("case").get<int>();
        const auto ids = rec.at("ids").get<std::vector<int32_t>>();
        bool ok = true;
        if (rec.at("kind") == "encode") {
            const std::string text = rec.at("text").get<std::string>();
            const std::string head = "case " + std::to_string(n) + " " + visible(text) + " (" + tokenizer_path + ")";

            const auto got = tok.encode(text);
            if (got != ids) {
                ADD_FAILURE() << head << ": ids differ\n" << side_by_side(tok, ids, got);
                ok = false;
            }
            if (rec.contains("ids_split_special")) {
                const auto want_split = rec.at("ids_split_special").get<std::vector<int32_t>>();
                const auto got_split = tok.encode(text, true);
                if (got_split != want_split) {
                    ADD_FAILURE() << head << ": ids with split_special differ\n" << side_by_side(tok, want_split, got_split);
                    ok = false;
                }
            }
            if (rec.contains("pretokens")) {
                const auto want_pre = rec.at("pretokens").get<std::vector<std::string>>();
                const auto got_pre = tok.pretokenize(text);
                if (got_pre != want_pre) {
                    ADD_FAILURE() << head << ": pre-tokens differ\n" << side_by_side(want_pre, got_pre);
                    ok = false;
                }
            }
            std::vector<std::string> got_tokens;
            for (int32_t id : ids) got_tokens.push_back(tok.id_to_token(id));
            const auto want_tokens = rec.at("tokens").get<std::vector<std::string>>();
            if (got_tokens != want_tokens) {
                ADD_FAILURE() << head << ": id_to_token differs\n" << side_by_side(want_tokens, got_tokens);
                ok = false;
            }
            for (const auto& [key, skip] : {std::pair{"decode", false}, std::pair{"decode_skip_special", true}}) {
                const std::string want = rec.at(key).get<std::string>(), got_text = tok.decode(ids, skip);
                if (got_text != want) {
                    ADD_FAILURE() << head << ": " << key << " gives " << visible(got_text) << ", expected " << visible(want);
                    ok = false;
                }
            }
        } else {
            const std::string want = rec.at("text").get<std::string>();
            const std::string got = tok.decode(ids, rec.at("skip_special_tokens").get<bool>());
            if (got != want) {
                ADD_FAILURE() << "case " << n << " (decode, " << rec.at("note").get<std::string>() << "): got "
                              << visible(got) << ", expected " << visible(want);
                ok = false;
            }
        }
        passed += ok;
    }
    EXPECT_EQ(total, expected_records) << golden_path;
    std::printf("[ golden   ] %s with %s: %d/%d records pass\n", std::filesystem::path(golden_path).filename().c_str(),
                std::filesystem::path(tokenizer_path).filename().c_str(), passed, total);
    return passed;
}

// Writes a temporary tokenizer.json (the tiny one, edited) and returns its path.
std::string write_temp(const std::string& name, const std::string& text) {
    // One folder per process: ctest may run several of these tests (or builds) at once.
    const auto dir = std::filesystem::path(testing::TempDir()) / ("dlmscope-test-tokenizer-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

std::string write_temp(const std::string& name, const json& j) { return write_temp(name, j.dump()); }

json tiny_json() { return read_json_file(kTinyTokenizer); }

// The message of the Error that `f` throws ("" if it throws none).
template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// ---- [golden] -------------------------------------------------------------------------------

TEST(TokenizerGolden, Tiny) { EXPECT_EQ(check_golden(kTinyTokenizer, kFixtures + "/tokenizer/golden_tiny.jsonl"), 100); }

TEST(TokenizerGolden, Small) {
    EXPECT_EQ(check_golden(kSmallTokenizer, kFixtures + "/tokenizer/golden_small.jsonl"), 100);
}

TEST(TokenizerGolden, SmallLegacyMerges) {
    EXPECT_EQ(check_golden(kSmallLegacyTokenizer, kFixtures + "/tokenizer/golden_small.jsonl"), 100);
}

// The bundled default model's tokenizer (trained by tools/train-model with Hugging Face tokenizers;
// records by tools/train-model/golden.mjs): chat-templated held-out prompts, held-out text, edge cases.
TEST(TokenizerGolden, DefaultModel) {
    EXPECT_EQ(check_golden(kDefaultModel + "/tokenizer.json", kFortunesGolden), 100);
}

TEST(TokenizerGolden, SizeAndSpecials) {
    const Tokenizer tok = Tokenizer::load(kFixtures + "/checkpoint");  // a directory works too
    EXPECT_EQ(tok.size(), 288);
    EXPECT_EQ(tok.token_to_id("<|mdm_mask|>"), 287);
    EXPECT_EQ(tok.token_to_id("Ġ"), 220);
    EXPECT_FALSE(tok.token_to_id("no such token"));
    EXPECT_TRUE(tok.is_special(282));
    EXPECT_FALSE(tok.is_special(220));
    EXPECT_EQ(tok.id_to_token(198), "Ċ");
    EXPECT_EQ(tok.id_to_token(288), "");
    EXPECT_EQ(tok.piece(198), "\n");
    EXPECT_EQ(tok.piece(286), "<|eot_id|>");
    EXPECT_EQ(tok.piece(187), "\xEF\xBF\xBD");  // byte 0xFF alone
    EXPECT_EQ(tok.piece(-1), "");
    EXPECT_EQ(tok.piece(100000), "");
}

// ---- [prompts] ------------------------------------------------------------------------------

void check_prompt(const std::string& run, ChatTemplate tmpl) {
    const Tokenizer tok = Tokenizer::load(kTinyTokenizer);
    const json meta = read_json_file(kFixtures + "/runs/" + run + "/meta.json");
    const json& fx = meta.at("fixture");
    const std::string rendered = tok.apply_chat_template(fx.at("question").get<std::string>(), tmpl);
    EXPECT_EQ(rendered, fx.at("prompt_text").get<std::string>()) << run;
    const auto want = fx.at("prompt_ids").get<std::vector<int32_t>>();
    const auto got = tok.encode(rendered);
    EXPECT_EQ(got, want) << run << "\n" << side_by_side(tok, want, got);
}

TEST(TokenizerPrompts, MmadaTemplateT0) { check_prompt("t0", ChatTemplate::mmada); }
TEST(TokenizerPrompts, LladaTemplateLladaT0) { check_prompt("llada-t0", ChatTemplate::llada); }

TEST(TokenizerPrompts, TemplatesTrimAndNone) {
    const Tokenizer tok = Tokenizer::load(kTinyTokenizer);
    EXPECT_EQ(tok.apply_chat_template("  Hi \n\t", ChatTemplate::mmada),
              "<|startoftext|><|start_header_id|>user<|end_header_id|>\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n");
    // Python's str.strip() also removes NBSP and U+3000.
    EXPECT_EQ(tok.apply_chat_template("\xC2\xA0Hi\xE3\x80\x80", ChatTemplate::llada),
              "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(tok.apply_chat_template("  as is ", ChatTemplate::none), "  as is ");
    EXPECT_EQ(parse_chat_template("llada"), ChatTemplate::llada);
    EXPECT_EQ(parse_chat_template("mmada"), ChatTemplate::mmada);
    EXPECT_EQ(parse_chat_template("none"), ChatTemplate::none);
    EXPECT_EQ(parse_chat_template("auto"), ChatTemplate::automatic);
    for (ChatTemplate t : {ChatTemplate::none, ChatTemplate::llada, ChatTemplate::mmada, ChatTemplate::automatic})
        EXPECT_EQ(parse_chat_template(chat_template_name(t)), t);
    EXPECT_NE(error_of([] { parse_chat_template("chatml"); }).find("'chatml'"), std::string::npos);
}

TEST(TokenizerPrompts, TemplateNeedsItsTokens) {
    json j = tiny_json();
    auto& added = j["added_tokens"];
    for (auto it = added.begin(); it != added.end(); ++it)
        if ((*it)["content"] == "<|eot_id|>") {
            added.erase(it);
            break;
        }
    const std::string path = write_temp("no-eot.json", j);
    const Tokenizer tok = Tokenizer::load(path);
    const std::string msg = error_of([&] { tok.apply_chat_template("Hi", ChatTemplate::llada); });
    EXPECT_NE(msg.find("'<|eot_id|>'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

// ---- [internals] ----------------------------------------------------------------------------

TEST(TokenizerInternals, Utf8LossyLikeRust) {
    using tok::utf8_lossy;
    EXPECT_EQ(utf8_lossy("abc"), "abc");
    EXPECT_EQ(utf8_lossy("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");                      // overlong: per byte
    EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");      // surrogate: per byte
    EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), "\xEF\xBF\xBD");                              // truncated: once
    EXPECT_EQ(utf8_lossy("\xF0\x9F\x98x"), "\xEF\xBF\xBDx");
    EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // > U+10FFFF
    EXPECT_EQ(utf8_lossy("\xE4\xBD\xA0"), "\xE4\xBD\xA0");
    EXPECT_FALSE(tok::is_valid_utf8("\xFF"));
}

TEST(TokenizerInternals, ByteLevelAlphabet) {
    EXPECT_EQ(tok::to_byte_level(" \n!"), "ĠĊ!");
    EXPECT_EQ(tok::from_byte_level("ĠĊ!"), std::optional<std::string>(" \n!"));
    EXPECT_FALSE(tok::from_byte_level("<think> "));  // a plain space is not in the alphabet
    for (int b = 0; b < 256; ++b) EXPECT_EQ(tok::char_byte(tok::byte_char(static_cast<uint8_t>(b))), b);
}

TEST(TokenizerInternals, WhitespaceIsOnigurumas) {
    // U+180E MONGOLIAN VOWEL SEPARATOR: \s in PCRE2, not White_Space (hence not \s) in Oniguruma.
    const tok::Regex s("\\s", "test");
    EXPECT_TRUE(s.find_all("\xE1\xA0\x8E").empty());
    EXPECT_EQ(s.find_all("a\xC2\x85 \xE3\x80\x80").size(), 3u);  // NEL, space, ideographic space
    const tok::Regex in_class("[^\\s]+", "test");
    EXPECT_EQ(in_class.find_all("\xE1\xA0\x8E" "a b").front(), (std::pair<size_t, size_t>{0, 4}));
    EXPECT_EQ(tok::translate_oniguruma("[\\]\\s]\\S"), "[\\]\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}][^\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}]");
    EXPECT_NE(error_of([] { tok::translate_oniguruma("[a-z[0-9]]"); }).find("nested"), std::string::npos);
}

TEST(TokenizerInternals, EmptyMatchesLikeOnigFindIter) {
    // The onig crate skips an empty match that touches the previous match's end.
    const tok::Regex re("a*", "test");
    const std::vector<std::pair<size_t, size_t>> want{{0, 0}, {1, 2}, {3, 3}};
    EXPECT_EQ(re.find_all("bab"), want);
}

TEST(TokenizerInternals, InvalidUtf8InputIsRepaired) {
    const Tokenizer tok = Tokenizer::load(kSmallTokenizer);
    EXPECT_EQ(tok.encode("a\xFF" "b"), tok.encode("a\xEF\xBF\xBD" "b"));
    EXPECT_EQ(tok.pretokenize("\xC0\x80"), tok.pretokenize("\xEF\xBF\xBD\xEF\xBF\xBD"));
    EXPECT_EQ(tok.decode(tok.encode("x\xF0\x9F\x98"), false), "x\xEF\xBF\xBD");
}

TEST(TokenizerInternals, LongInputs) {
    const Tokenizer tok = Tokenizer::load(kSmallTokenizer);
    // One 200 KB word and one 200 KB run of spaces: BPE and the regex must stay linear-ish.
    const std::string word(200000, 'a'), spaces(200000, ' ');
    EXPECT_EQ(tok.decode(tok.encode(word), false), word);
    EXPECT_EQ(tok.decode(tok.encode(spaces + "x"), false), spaces + "x");
    EXPECT_EQ(tok.pretokenize(spaces + "x").size(), 2u);

    // ~10 KB of mixed prose, timed once for the record.
    std::string text;
    const std::string para =
        "The quick brown fox jumps over the lazy dog. Don't panic: 1234567 items cost $89.99!\n"
        "Ελληνικά κείμενα, Привет мир, 你好世界, emoji 👍🏽 and tabs\tand  spaces.\n\n";
    while (text.size() < 10000) text += para;
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(tok.decode(ids, false), text);
    std::printf("[ speed    ] encode %zu bytes -> %zu tokens in %.2f ms\n", text.size(), ids.size(), ms);
}

// ---- [config] -------------------------------------------------------------------------------

TEST(TokenizerConfig, ByteLevelWithRegexAndPrefixSpace) {
    json j = tiny_json();
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    const Tokenizer tok = Tokenizer::load(write_temp("gpt2-style.json", j));
    // The library's own byte_level.rs tests, seen as plain text.
    const std::vector<std::string> want{" Hello", " my", " friend", ",", " how", " is", " your", " day", " going", "?"};
    EXPECT_EQ(tok.pretokenize("Hello my friend, how is your day going?"), want);
    EXPECT_EQ(tok.pretokenize(" Hello my friend, how is your day going?"), want);

    j["pre_tokenizer"]["add_prefix_space"] = false;
    const Tokenizer no_prefix = Tokenizer::load(write_temp("gpt2-style-no-prefix.json", j));
    EXPECT_EQ(no_prefix.pretokenize("Hello there       dear"),
              (std::vector<std::string>{"Hello", " there", "      ", " dear"}));
    EXPECT_EQ(no_prefix.pretokenize("Hello there\nHello there"),
              (std::vector<std::string>{"Hello", " there", "\n", "Hello", " there"}));
    // The prefix space goes before every segment between added tokens.
    EXPECT_EQ(tok.pretokenize("a<|eot_id|>b"), (std::vector<std::string>{" a", "<|eot_id|>", " b"}));
}

TEST(TokenizerConfig, NonSpecialAddedTokenSurvivesSplitSpecial) {
    json j = tiny_json();
    j["added_tokens"].push_back({{"id", 288}, {"content", "<think> "}, {"single_word", false}, {"lstrip", false},
                                 {"rstrip", false}, {"normalized", true}, {"special", false}});
    const Tokenizer tok = Tokenizer::load(write_temp("think.json", j));
    EXPECT_EQ(tok.size(), 289);
    const auto ids = tok.encode("<|eot_id|><think> x", true);
    ASSERT_GE(ids.size(), 2u);
    EXPECT_EQ(ids[ids.size() - 2], 288);  // still matched; <|eot_id|> was split into characters
    EXPECT_EQ(ids.front(), tok.encode("<").front());
    EXPECT_EQ(tok.decode(ids, true), "<|eot_id|><think> x");
    EXPECT_EQ(tok.decode({286, 288}, false), "<|eot_id|><think> ");
    EXPECT_EQ(tok.decode({286, 288}, true), "<think> ");
    // Leftmost match wins over a longer one starting later; at the same start the longer wins.
    j["added_tokens"].push_back({{"id", 289}, {"content", "<|eot_id|>!"}, {"normalized", false}, {"special", true}});
    const Tokenizer longest = Tokenizer::load(write_temp("longest.json", j));
    EXPECT_EQ(longest.encode("<|eot_id|>!<|eot_id|>"), (std::vector<int32_t>{289, 286}));
}

// ---- [errors] -------------------------------------------------------------------------------

TEST(TokenizerErrors, MalformedJson) {
    const std::string path = write_temp("malformed.json", std::string("{\"model\": {\"vocab\": "));
    const std::string msg = error_of([&] { Tokenizer::load(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
}

TEST(TokenizerErrors, MissingFile) {
    const std::string msg = error_of([] { Tokenizer::load("/nonexistent/dir/tokenizer.json"); });
    EXPECT_NE(msg.find("/nonexistent/dir/tokenizer.json"), std::string::npos) << msg;
}

TEST(TokenizerErrors, MissingVocab) {
    json j = tiny_json();
    j["model"].erase("vocab");
    const std::string path = write_temp("no-vocab.json", j);
    const std::string msg = error_of([&] { Tokenizer::load(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.vocab"), std::string::npos) << msg;
}

TEST(TokenizerErrors, UnsupportedNormalizer) {
    json j = tiny_json();
    j["normalizer"] = {{"type", "NFC"}};
    const std::string path = write_temp("nfc.json", j);
    const std::string msg = error_of([&] { Tokenizer::load(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("normalizer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("NFC"), std::string::npos) << msg;
}

TEST(TokenizerErrors, UnsupportedSettingsNameTheKey) {
    struct Case {
        const char* name;
        void (*edit)(json&);
        const char* expect;  // must appear in the message
    };
    const Case cases[] = {
        {"byte-fallback", [](json& j) { j["model"]["byte_fallback"] = true; }, "model.byte_fallback"},
        {"ignore-merges", [](json& j) { j["model"]["ignore_merges"] = true; }, "model.ignore_merges"},
        {"lstrip", [](json& j) { j["added_tokens"][4]["lstrip"] = true; }, "<|eot_id|>"},
        {"single-word", [](json& j) { j["added_tokens"][0]["single_word"] = true; }, "added_tokens[0].single_word"},
        {"behavior", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; },
         "pre_tokenizer.pretokenizers[0].behavior"},
        {"invert", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["invert"] = true; },
         "pre_tokenizer.pretokenizers[0].invert"},
        {"bad-regex", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; },
         "pre_tokenizer.pretokenizers[0].pattern"},
        {"digits", [](json& j) { j["pre_tokenizer"]["pretokenizers"][1] = {{"type", "Digits"}}; },
         "pre_tokenizer.pretokenizers[1].type"},
        {"decoder", [](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder"},
        {"model-type", [](json& j) { j["model"]["type"] = "Unigram"; }, "model.type"},
        {"bad-merge", [](json& j) { j["model"]["merges"][3] = json::array({"i", "zz"}); }, "model.merges[3]"},
        {"bad-legacy-merge", [](json& j) { j["model"]["merges"][2] = "a b c"; }, "model.merges[2]"},
        {"missing-merges", [](json& j) { j["model"].erase("merges"); }, "model.merges"},
        {"bad-id", [](json& j) { j["added_tokens"][1]["id"] = -3; }, "added_tokens[1].id"},
    };
    for (const Case& c : cases) {
        json j = tiny_json();
        c.edit(j);
        const std::string path = write_temp(std::string(c.name) + ".json", j);
        const std::string msg = error_of([&] { Tokenizer::load(path); });
        EXPECT_NE(msg.find(path), std::string::npos) << c.name << ": " << msg;
        EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    }
}

}  // namespace
}  // namespace dlmscope
