#include "dlmscope/selection.h"

#include "core/error.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sstream>

namespace dlmscope {

namespace {

int parse_int(const std::string& tok, const char* option, const std::string& whole) {
    size_t used = 0;
    long v = -1;
    try {
        v = std::stol(tok, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (tok.empty() || used != tok.size() || v < 0 || v > 1'000'000)
        fail("{}: cannot read '{}' in '{}' (expected a non-negative integer)", option, tok, whole);
    return static_cast<int>(v);
}

// "0,3,5-7" -> {0,3,5,6,7}, sorted and unique.
std::vector<int> parse_list(const std::string& s, const char* option) {
    std::vector<int> out;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        const auto dash = tok.find('-');
        if (dash != std::string::npos) {
            const int a = parse_int(tok.substr(0, dash), option, s), b = parse_int(tok.substr(dash + 1), option, s);
            if (b < a) fail("{}: range '{}' is empty", option, tok);
            for (int i = a; i <= b; ++i) out.push_back(i);
        } else {
            out.push_back(parse_int(tok, option, s));
        }
    }
    if (out.empty()) fail("{}: empty list '{}'", option, s);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace

void CaptureSelection::parse_steps(const std::string& s) {
    step_list.clear();
    if (s == "all") {
        steps = Steps::all;
    } else if (s == "block-ends") {
        steps = Steps::block_ends;
    } else if (s.rfind("every:", 0) == 0) {
        steps = Steps::every;
        every = parse_int(s.substr(6), "--capture-steps", s);
        if (every < 1) fail("--capture-steps: every:K needs K >= 1, got '{}'", s);
    } else {
        steps = Steps::list;
        step_list = parse_list(s, "--capture-steps");
    }
}

void CaptureSelection::parse_layers(const std::string& s) {
    all_layers = s == "all";
    layer_list.clear();
    if (!all_layers) layer_list = parse_list(s, "--capture-layers");
}

void CaptureSelection::parse_heads(const std::string& s) {
    head_list.clear();
    if (s == "mean") heads = Heads::mean;
    else if (s == "all") heads = Heads::all;
    else if (s == "none") heads = Heads::none;
    else {
        heads = Heads::list;
        head_list = parse_list(s, "--capture-heads");
    }
}

void CaptureSelection::parse_rows(const std::string& s) {
    if (s == "all") {
        rows = Rows::all;
    } else if (s == "generated") {
        rows = Rows::generated;
    } else {
        const auto colon = s.find(':');
        if (colon == std::string::npos) fail("--capture-rows: '{}' is not all, generated or A:B", s);
        rows = Rows::range;
        row_begin = parse_int(s.substr(0, colon), "--capture-rows", s);
        row_end = parse_int(s.substr(colon + 1), "--capture-rows", s);
        if (row_end <= row_begin) fail("--capture-rows: range '{}' is empty", s);
    }
}

void CaptureSelection::parse_dtype(const std::string& s) {
    if (s == "f16") f16 = true;
    else if (s == "f32") f16 = false;
    else fail("--capture-dtype: '{}' is not f16 or f32", s);
}

void CaptureSelection::validate(int n_layers, int n_heads, int n_steps, int canvas_length) const {
    for (int l : layer_list)
        if (l >= n_layers) fail("--capture-layers: layer {} does not exist (the model has {} layers: 0..{})", l, n_layers, n_layers - 1);
    for (int h : head_list)
        if (h >= n_heads) fail("--capture-heads: head {} does not exist (the model has {} heads: 0..{})", h, n_heads, n_heads - 1);
    for (int s : step_list)
        if (s >= n_steps) fail("--capture-steps: step {} does not exist (the run has {} steps: 0..{})", s, n_steps, n_steps - 1);
    if (rows == Rows::range && row_end > canvas_length)
        fail("--capture-rows: range {}:{} goes past the canvas ({} positions)", row_begin, row_end, canvas_length);
}

bool CaptureSelection::wants_step(int step, int step_in_block, int steps_per_block) const {
    switch (steps) {
        case Steps::all: return true;
        case Steps::every: return step % every == 0;
        case Steps::block_ends: return step_in_block == 0 || step_in_block == steps_per_block - 1;
        case Steps::list: return std::binary_search(step_list.begin(), step_list.end(), step);
    }
    return false;
}

bool CaptureSelection::wants_layer(int layer) const {
    return all_layers || std::binary_search(layer_list.begin(), layer_list.end(), layer);
}

std::vector<int> CaptureSelection::layers(int n_layers) const {
    std::vector<int> out;
    for (int l = 0; l < n_layers; ++l)
        if (wants_layer(l)) out.push_back(l);
    return out;
}

std::pair<int, int> CaptureSelection::row_range(int prompt_length, int canvas_length) const {
    switch (rows) {
        case Rows::all: return {0, canvas_length};
        case Rows::generated: return {prompt_length, canvas_length};
        case Rows::range: return {row_begin, std::min(row_end, canvas_length)};
    }
    return {0, canvas_length};
}

int CaptureSelection::stored_heads(int n_heads) const {
    switch (heads) {
        case Heads::none: return 0;
        case Heads::mean: return 1;
        case Heads::all: return n_heads;
        case Heads::list: return static_cast<int>(head_list.size());
    }
    return 0;
}

std::string CaptureSelection::heads_label() const {
    switch (heads) {
        case Heads::none: return "none";
        case Heads::mean: return "mean";
        case Heads::all: return "all";
        case Heads::list: return fmt::format("{}", fmt::join(head_list, ","));
    }
    return "";
}

std::string CaptureSelection::describe() const {
    std::string st = steps == Steps::all ? "all" : steps == Steps::every ? fmt::format("every:{}", every)
                   : steps == Steps::block_ends ? "block-ends" : fmt::format("{}", fmt::join(step_list, ","));
    std::string ly = all_layers ? "all" : fmt::format("{}", fmt::join(layer_list, ","));
    std::string rw = rows == Rows::all ? "all" : rows == Rows::generated ? "generated" : fmt::format("{}:{}", row_begin, row_end);
    return fmt::format("steps={} layers={} heads={} rows={} dtype={}", st, ly, heads_label(), rw, f16 ? "f16" : "f32");
}

}  // namespace dlmscope
