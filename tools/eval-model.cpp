// dlmscope-eval-model: how much English a checkpoint has learned, measured through the engine.
//
//   dlmscope-eval-model --model DIR --heldout heldout.json [--dict /usr/share/dict/american-english]
//
// heldout.json is {"prompts": [text, ...], "texts": [text, ...]} (written by tools/train-model).
//  1. Dictionary-word share: each prompt goes through the model's chat template and `generate` at the
//     CLI's defaults (128 positions, 128 steps, blocks of 32, temperature 0); of the words in the
//     answers (runs of ASCII letters, inner apostrophes kept), the share found in the word list,
//     case-insensitively.
//  2. Masked-token loss on held-out text: each text (no template) is masked at rates 0.15, 0.5 and
//     0.85 with a seeded generator; the cross-entropy of the true token at the masked positions, in
//     nats per masked token, and rescaled to bits per byte of text (nats/token × tokens/byte ÷ ln 2),
//     which compares models with different tokenizers.
// Prints a summary and, with --json FILE, writes every number and generated answer.
#include "core/error.h"
#include "core/json.h"
#include "dlmscope/engine.h"
#include "engine/kernels/kernels.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

using namespace dlmscope;

namespace {

std::unordered_set<std::string> read_words(const std::string& path) {
    std::ifstream f(path);
    if (!f) fail("{}: cannot open the word list (Debian package wamerican)", path);
    std::unordered_set<std::string> words;
    for (std::string w; std::getline(f, w);) {
        std::transform(w.begin(), w.end(), w.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (!w.empty()) words.insert(w);
    }
    if (words.empty()) fail("{}: the word list is empty", path);
    return words;
}

// Runs of ASCII letters; an apostrophe between two letters stays inside the word ("don't").
std::vector<std::string> words_of(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    auto alpha = [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)) != 0; };
    for (size_t i = 0; i <= text.size(); ++i) {
        const char ch = i < text.size() ? text[i] : ' ';
        if (alpha(ch)) {
            cur += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        } else if (ch == '\'' && !cur.empty() && i + 1 < text.size() && alpha(text[i + 1])) {
            cur += ch;
        } else if (!cur.empty()) {
            out.push_back(cur);
            cur.clear();
        }
    }
    return out;
}

// Word 4-grams of one answer: (all, repeats), a repeat being an occurrence of a 4-gram seen earlier in
// the same answer. "of the world of the world of" has 4 four-grams, 1 of them a repeat.
std::pair<size_t, size_t> four_grams(const std::vector<std::string>& ws) {
    std::unordered_set<std::string> seen;
    size_t all = 0, repeats = 0;
    for (size_t i = 0; i + 4 <= ws.size(); ++i, ++all)
        repeats += !seen.insert(ws[i] + ' ' + ws[i + 1] + ' ' + ws[i + 2] + ' ' + ws[i + 3]).second;
    return {all, repeats};
}

// The words of a prompt that say what it is about: 4+ letters, minus the held-out prompts' frames.
std::unordered_set<std::string> topic_words(const std::string& prompt) {
    static const std::unordered_set<std::string> frame = {"complete", "this", "tell", "give", "fortune", "quote",
                                                          "about", "something", "what", "know"};
    std::unordered_set<std::string> out;
    for (const std::string& w : words_of(prompt))
        if (w.size() >= 4 && !frame.count(w)) out.insert(w);
    return out;
}

// Share of `topic` found among the answer's words.
double overlap(const std::unordered_set<std::string>& topic, const std::vector<std::string>& answer) {
    if (topic.empty()) return 0.0;
    size_t hit = 0;
    for (const std::string& w : topic) hit += std::find(answer.begin(), answer.end(), w) != answer.end();
    return static_cast<double>(hit) / static_cast<double>(topic.size());
}

// A completion prompt ("Complete this: <the saying's first words>") is answered well when the answer
// starts with those words: the share of them that the answer's words begin with, in order. None for
// any other prompt.
std::optional<double> continued_share(const std::string& prompt, const std::vector<std::string>& answer) {
    static const std::string frame = "Complete this:";
    if (prompt.rfind(frame, 0) != 0) return std::nullopt;
    const auto given = words_of(prompt.substr(frame.size()));
    if (given.empty()) return std::nullopt;
    size_t k = 0;
    while (k < given.size() && k < answer.size() && given[k] == answer[k]) ++k;
    return static_cast<double>(k) / static_cast<double>(given.size());
}

double masked_ce(const std::vector<float>& logits, int width, int pos, int32_t target) {
    const float* row = logits.data() + static_cast<size_t>(pos) * width;
    const float mx = *std::max_element(row, row + width);
    double sum = 0.0;
    for (int v = 0; v < width; ++v) sum += std::exp(static_cast<double>(row[v]) - mx);
    return std::log(sum) + mx - row[target];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"dlmscope-eval-model: dictionary-word share of generated answers and masked-token loss on held-out text"};
    std::string model_dir, heldout_path, dict = "/usr/share/dict/american-english", json_out;
    int max_texts = 100, threads = 0;
    GenerateParams gp;
    gp.block_length = 32;
    app.add_option("--model", model_dir, "Checkpoint directory")->required();
    app.add_option("--heldout", heldout_path, "heldout.json with \"prompts\" and \"texts\"")->required();
    app.add_option("--dict", dict, "Word list, one word per line")->capture_default_str();
    app.add_option("--max-texts", max_texts, "Held-out texts used for the loss")->capture_default_str();
    app.add_option("--gen-length", gp.gen_length)->capture_default_str();
    app.add_option("--steps", gp.steps)->capture_default_str();
    app.add_option("--block-length", gp.block_length)->capture_default_str();
    app.add_option("--threads", threads, "Threads (0 = all cores)")->capture_default_str();
    app.add_option("--json", json_out, "Write all results to this file");
    CLI11_PARSE(app, argc, argv);
    try {
        const auto words = read_words(dict);
        const json held = read_json_file(heldout_path);
        if (!held.contains("prompts") || !held["prompts"].is_array() || !held.contains("texts") || !held["texts"].is_array())
            fail("{}: expected arrays \"prompts\" and \"texts\"", heldout_path);
        LoadOptions lo;
        lo.threads = threads;
        auto engine = Engine::load(model_dir, lo);
        const int width = engine->info().embedding_size, max_len = engine->info().max_sequence_length;

        GenerateParams p = engine->default_params();
        p.gen_length = gp.gen_length;
        p.steps = gp.steps;
        p.block_length = gp.block_length;
        json answers = json::array();
        size_t n_words = 0, n_dict = 0, n_grams = 0, n_repeats = 0, n_stopped = 0, n_text_tokens = 0;
        std::vector<std::vector<std::string>> answer_words;
        std::vector<std::string> prompts;
        std::unordered_set<std::string> distinct;
        const int32_t eos = engine->info().eos_id, eot = engine->info().eot_id;
        for (const auto& pj : held["prompts"]) {
            prompts.push_back(pj.get<std::string>());
            const auto prompt = engine->encode_chat(prompts.back());
            const GenerateResult r = engine->generate(prompt, p);
            const std::string text = engine->decode(generated_ids(r), true);
            size_t in_dict = 0;
            const auto ws = words_of(text);
            for (const auto& w : ws) in_dict += words.count(w);
            n_words += ws.size();
            n_dict += in_dict;
            const auto [grams, repeats] = four_grams(ws);
            n_grams += grams, n_repeats += repeats;
            // Stopped: the answer ends at <|eot_id|>/<|endoftext|>; its text is what comes before.
            const auto gen = generated_ids(r);
            const auto end = std::find_if(gen.begin(), gen.end(), [&](int32_t id) { return id == eos || id == eot; });
            const bool stopped = end != gen.end();
            n_stopped += stopped;
            n_text_tokens += static_cast<size_t>(end - gen.begin());
            distinct.insert(text);
            answer_words.push_back(ws);
            answers.push_back({{"prompt", pj}, {"answer", text}, {"words", ws.size()}, {"dictionary_words", in_dict},
                               {"four_grams", grams}, {"repeated_four_grams", repeats}, {"stopped", stopped},
                               {"text_tokens", end - gen.begin()}});
            fmt::print("> {}\n  {}\n", pj.get<std::string>(), text);
        }
        // Steering: the share of a prompt's topic words found in its own answer, against the same
        // share in the answer to the next prompt (a prompt-blind model scores the same on both).
        // And for completion prompts, how much of the given beginning the answer starts with.
        double own = 0.0, other = 0.0, continued = 0.0;
        size_t n_completions = 0, n_continued = 0;
        const size_t np = prompts.size();
        for (size_t i = 0; i < np; ++i) {
            const auto topic = topic_words(prompts[i]);
            own += overlap(topic, answer_words[i]);
            other += overlap(topic, answer_words[(i + 1) % np]);
            const auto c = continued_share(prompts[i], answer_words[i]);
            if (!c) continue;
            ++n_completions, continued += *c, n_continued += *c == 1.0;
        }
        own /= static_cast<double>(std::max<size_t>(np, 1)), other /= static_cast<double>(std::max<size_t>(np, 1));
        continued /= static_cast<double>(std::max<size_t>(n_completions, 1));
        const double repeated = n_grams ? static_cast<double>(n_repeats) / static_cast<double>(n_grams) : 0.0;

        std::mt19937_64 rng(1234);
        std::uniform_real_distribution<double> uni(0.0, 1.0);
        double ce_sum = 0.0;
        size_t n_masked = 0, n_tokens = 0, n_bytes = 0;
        const int32_t mask_id = p.mask_id;
        int used = 0;
        for (const auto& tj : held["texts"]) {
            if (used == max_texts) break;
            const std::string text = tj.get<std::string>();
            std::vector<int32_t> ids = engine->encode(text);
            if (ids.empty()) continue;
            if (static_cast<int>(ids.size()) > max_len) ids.resize(static_cast<size_t>(max_len));
            ++used;
            n_tokens += ids.size();
            n_bytes += engine->decode(ids, false).size();
            for (double rate : {0.15, 0.5, 0.85}) {
                std::vector<int32_t> x = ids;
                std::vector<int> masked;
                for (size_t i = 0; i < x.size(); ++i)
                    if (uni(rng) < rate) {
                        x[i] = mask_id;
                        masked.push_back(static_cast<int>(i));
                    }
                if (masked.empty()) continue;
                const auto logits = engine->forward(x);
                for (int i : masked) ce_sum += masked_ce(logits, width, i, ids[static_cast<size_t>(i)]);
                n_masked += masked.size();
            }
        }
        if (n_masked == 0 || n_bytes == 0) fail("{}: no held-out text to measure the loss on", heldout_path);
        const double nats = ce_sum / static_cast<double>(n_masked);
        const double bpb = nats * static_cast<double>(n_tokens) / static_cast<double>(n_bytes) / std::log(2.0);
        const double share = n_words ? static_cast<double>(n_dict) / static_cast<double>(n_words) : 0.0;
        fmt::print("\nmodel                 {}\n", model_dir);
        fmt::print("dictionary words      {:.1f}% ({} of {} words in {} answers)\n", 100.0 * share, n_dict, n_words,
                   held["prompts"].size());
        fmt::print("masked-token loss     {:.3f} nats/token, {:.3f} bits/byte ({} masked tokens in {} texts)\n", nats, bpb,
                   n_masked, used);
        fmt::print("repeated 4-grams      {:.1f}% ({} of {} word 4-grams repeat one earlier in the same answer)\n", 100.0 * repeated,
                   n_repeats, n_grams);
        fmt::print("stopped at eot/eos    {} of {} answers (mean {:.1f} text tokens before the end)\n", n_stopped, np,
                   static_cast<double>(n_text_tokens) / static_cast<double>(std::max<size_t>(np, 1)));
        fmt::print("prompt steering       {:.1f}% of a prompt's topic words in its answer vs {:.1f}% in the next prompt's; {} distinct answers of {}\n",
                   100.0 * own, 100.0 * other, distinct.size(), np);
        fmt::print("completions continued {} of {} answers start with all the words given; {:.1f}% of the given words on average\n",
                   n_continued, n_completions, 100.0 * continued);
        if (!json_out.empty())
            write_json_file(json_out, {{"model", model_dir},
                                       {"dictionary_word_share", share},
                                       {"words", n_words},
                                       {"dictionary_words", n_dict},
                                       {"masked_loss_nats_per_token", nats},
                                       {"repeated_four_gram_share", repeated},
                                       {"stopped_answers", n_stopped},
                                       {"mean_text_tokens", static_cast<double>(n_text_tokens) / static_cast<double>(std::max<size_t>(np, 1))},
                                       {"topic_overlap_own", own},
                                       {"topic_overlap_next", other},
                                       {"distinct_answers", distinct.size()},
                                       {"completion_prompts", n_completions},
                                       {"completions_continued", n_continued},
                                       {"completion_prefix_share", continued},
                                       {"masked_loss_bits_per_byte", bpb},
                                       {"masked_tokens", n_masked},
                                       {"texts", used},
                                       {"settings", {{"gen_length", p.gen_length}, {"steps", p.steps}, {"block_length", p.block_length}}},
                                       {"answers", answers}});
    } catch (const json::exception& e) {
        fmt::print(stderr, "dlmscope-eval-model: error: {}: {}\n", heldout_path, e.what());
        return 1;
    } catch (const Error& e) {
        fmt::print(stderr, "dlmscope-eval-model: error: {}\n", e.what());
        return 1;
    }
    return 0;
}
