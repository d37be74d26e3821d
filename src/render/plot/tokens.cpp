#include "render/plot/tokens.h"

#include "core/error.h"

#include <algorithm>
#include <filesystem>

namespace dlmscope::render {

namespace {

// manifest[key] as T when present and of the right type, else `fallback`.
template <typename T>
T value_or(const json& obj, const char* key, T fallback) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        return fallback;
    }
}

// Number of bytes of the UTF-8 sequence starting with `c` (1 for invalid lead bytes).
size_t utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c >> 5) == 0x6) return 2;
    if ((c >> 4) == 0xe) return 3;
    if ((c >> 3) == 0x1e) return 4;
    return 1;
}

// Each block's first step and step count, and each step's forward: from the steps' records when
// they cover every block; else the manifest's block_steps; else steps_per_block (runs before
// variable schedules); else what records there are (an incomplete run).
void read_schedule(const analysis::RunReader& run, RunInfo& info) {
    const int nb = info.num_blocks;
    std::vector<int> start, count;  // per block, from the records
    for (const analysis::StepRecordInfo& r : run.schedule()) {
        if (r.step < 0 || r.step >= 1 << 24) continue;
        if (static_cast<int>(info.forwards.size()) <= r.step) info.forwards.resize(static_cast<size_t>(r.step) + 1);
        info.forwards[r.step] = {r.kind, r.row_begin, r.row_end};
        if (r.block < 0 || r.block >= nb) continue;
        if (static_cast<int>(start.size()) <= r.block) {
            start.resize(static_cast<size_t>(r.block) + 1, -1);
            count.resize(start.size(), 0);
        }
        if (start[r.block] < 0 || r.step < start[r.block]) start[r.block] = r.step;
        ++count[r.block];
    }
    int known = 0;  // blocks 0 … known−1 have records
    while (known < static_cast<int>(start.size()) && start[known] >= 0) ++known;
    const auto block_steps = value_or(run.manifest(), "block_steps", std::vector<int>());
    auto from_counts = [&](const std::vector<int>& steps) {
        info.block_steps = steps;
        info.block_start.clear();
        int s = 0;
        for (int n : steps) {
            info.block_start.push_back(s);
            s += n;
        }
    };
    if (known == nb && run.complete()) {
        info.block_start.assign(start.begin(), start.end());
        info.block_steps.assign(count.begin(), count.end());
    } else if (static_cast<int>(block_steps.size()) == nb) {
        from_counts(block_steps);
    } else if (info.steps_per_block > 0) {
        from_counts(std::vector<int>(static_cast<size_t>(nb), info.steps_per_block));
    } else {
        info.block_start.assign(start.begin(), start.begin() + known);
        info.block_steps.assign(count.begin(), count.begin() + known);
    }
}

}  // namespace

int RunInfo::block_of_position(int pos) const {
    if (pos < prompt_length || block_length <= 0) return -1;
    return std::min((pos - prompt_length) / block_length, num_blocks - 1);
}

int RunInfo::block_of_step(int step) const {
    if (step >= 0 && step < static_cast<int>(commits.size()) && commits[step].block >= 0) return commits[step].block;
    if (!block_start.empty()) {
        // The last block that starts at or before `step`.
        const auto it = std::upper_bound(block_start.begin(), block_start.end(), step);
        return std::clamp(static_cast<int>(it - block_start.begin()) - 1, 0, num_blocks - 1);
    }
    if (steps_per_block <= 0) return 0;
    return std::clamp(step / steps_per_block, 0, num_blocks - 1);
}

bool RunInfo::schedule_varies() const {
    for (int n : block_steps)
        if (n != block_steps.front()) return true;
    return false;
}

std::string RunInfo::block_steps_text() const {
    if (block_steps.empty()) return "";
    if (!schedule_varies())
        return fmt::format("{} step{}{}", block_steps.front(), block_steps.front() == 1 ? "" : "s", num_blocks > 1 ? " each" : "");
    // At most 12 numbers: a long run of blocks would make the subtitle unreadable.
    std::string list;
    for (size_t b = 0; b < block_steps.size() && b < 12; ++b) list += fmt::format("{}{}", b ? ", " : "", block_steps[b]);
    if (block_steps.size() > 12) list += fmt::format(", … ({} blocks)", block_steps.size());
    return "steps per block " + list;
}

std::string RunInfo::block_text(int block) const {
    std::string s = fmt::format("block {} of blocks 0–{}", block, num_blocks - 1);
    if (block >= 0 && block < static_cast<int>(block_start.size())) {
        const int s0 = block_start[block], s1 = s0 + block_steps[block] - 1;
        s += s0 == s1 ? fmt::format(" (its step: {})", s0) : fmt::format(" (its steps: {}–{})", s0, s1);
    }
    return s;
}

std::span<const int> RunInfo::committed_at(int step) const {
    if (step < 0 || step >= static_cast<int>(commits.size())) return {};
    return commits[step].positions;
}

RunInfo read_run_info(const analysis::RunReader& run) {
    const json& m = run.manifest();
    RunInfo info;
    info.prompt_length = run.prompt_length();
    info.canvas_length = run.canvas_length();
    info.total_steps = run.total_steps();
    info.steps_per_block = run.steps_per_block();
    info.mask_id = run.mask_id();
    info.cache_mode = run.cache_mode();
    const json params = m.value("params", json::object());
    const int gen = info.canvas_length - info.prompt_length;
    info.num_blocks = std::max(1, value_or(m, "num_blocks", 1));
    info.block_length = value_or(params, "block_length", gen / info.num_blocks);
    if (info.block_length <= 0 || info.block_length > gen) info.block_length = gen;
    info.remasking = value_or(params, "remasking", std::string());
    info.model_type = value_or(m.value("model", json::object()).value("config", json::object()), "model_type", std::string());
    info.prompt = value_or(m, "prompt", std::string());
    info.run_name = std::filesystem::path(run.manifest_path()).filename().string();

    const auto prompt_ids = value_or(m, "prompt_ids", std::vector<int32_t>());
    const auto output_ids = value_or(m, "output_ids", std::vector<int32_t>());
    if (static_cast<int>(prompt_ids.size() + output_ids.size()) == info.canvas_length) {
        info.final_ids = prompt_ids;
        info.final_ids.insert(info.final_ids.end(), output_ids.begin(), output_ids.end());
    }
    info.pieces = value_or(m, "tokens", std::vector<std::string>());
    if (static_cast<int>(info.pieces.size()) != info.canvas_length) info.pieces.clear();
    info.commit_step = value_or(m, "commit_step", std::vector<int>());
    if (static_cast<int>(info.commit_step.size()) != info.canvas_length) info.commit_step.clear();
    const json steps = m.value("steps", json::array());
    if (steps.is_array()) {
        for (const json& s : steps) {
            CommitEvent e;
            e.step = value_or(s, "step", -1);
            e.block = value_or(s, "block", -1);
            e.positions = value_or(s, "positions", std::vector<int>());
            e.confidences = value_or(s, "confidences", std::vector<double>());
            if (e.step < 0 || e.step >= 1 << 24) continue;
            if (static_cast<int>(info.commits.size()) <= e.step) info.commits.resize(static_cast<size_t>(e.step) + 1);
            info.commits[e.step] = std::move(e);
        }
    }
    read_schedule(run, info);
    return info;
}

bool is_special_piece(std::string_view p) {
    if (p.size() >= 4 && p.substr(0, 2) == "<|" && p.substr(p.size() - 2) == "|>") return true;
    if (p.size() >= 5 && p.substr(0, 4) == "<id:" && p.back() == '>') return true;
    return false;
}

std::string display_piece(std::string_view piece, size_t max_chars) {
    if (piece.empty()) return "∅";
    std::vector<std::string> chars;  // one entry per displayed character
    for (size_t i = 0; i < piece.size();) {
        const unsigned char c = static_cast<unsigned char>(piece[i]);
        if (c == '\n') {
            chars.emplace_back("↵");
        } else if (c == '\t') {
            chars.emplace_back("⇥");
        } else if (c == '\r') {
            chars.emplace_back("␍");
        } else if (c == ' ') {
            chars.emplace_back("␣");
        } else if (c < 0x20 || c == 0x7f) {
            chars.push_back(fmt::format("<0x{:02X}>", c));
        } else {
            size_t n = std::min(utf8_len(c), piece.size() - i);
            chars.emplace_back(piece.substr(i, n));
            i += n;
            continue;
        }
        ++i;
    }
    std::string out;
    if (chars.size() > max_chars && max_chars >= 2) {
        for (size_t k = 0; k + 1 < max_chars; ++k) out += chars[k];
        out += "…";
    } else {
        for (const auto& s : chars) out += s;
    }
    return out;
}

TokenLabel label_at(const RunInfo& info, std::span<const int32_t> canvas, int pos, int step) {
    TokenLabel l;
    const int32_t id = pos >= 0 && pos < static_cast<int>(canvas.size()) ? canvas[pos] : -1;
    const bool have_final = !info.pieces.empty() && !info.final_ids.empty();
    if (id == info.mask_id && pos >= info.prompt_length) {
        l.cls = TokenClass::masked;
        l.text = "▒";
        const auto now = info.committed_at(step);
        if (std::find(now.begin(), now.end(), pos) != now.end()) {
            l.committed_now = true;
            if (have_final) {
                const std::string& piece = info.pieces[pos];
                l.text += "→";
                l.text += display_piece(piece, 10);
                l.special = is_special_piece(piece);
            }
        }
        return l;
    }
    l.cls = pos < info.prompt_length ? TokenClass::prompt : TokenClass::generated;
    if (have_final && info.final_ids[pos] == id) {
        l.text = display_piece(info.pieces[pos], is_special_piece(info.pieces[pos]) ? 20 : 14);
        l.special = is_special_piece(info.pieces[pos]);
    } else {
        // An incomplete run (no pieces in the manifest), or a token the sampler later replaced: the id.
        l.text = fmt::format("#{}", id);
    }
    return l;
}

Window choose_window(const RunInfo& info, int max_tokens, int step) {
    const int L = info.canvas_length, P = info.prompt_length, N = std::max(1, max_tokens);
    if (L <= N) return {0, L};
    if (L - P <= N) return {L - N, L};  // the generated region plus the last prompt tokens
    const int b = step >= 0 ? info.block_of_step(step) : info.num_blocks - 1;
    const int bb = P + b * info.block_length;
    const int be = std::min(L, bb + info.block_length);
    int begin;
    if (be - bb <= N) {
        begin = bb - (N - (be - bb)) / 2;  // the block, centred, with context on both sides
    } else {
        // A block longer than the window: centre on what this step commits, else the block start.
        const auto now = info.committed_at(step);
        int centre = bb + N / 2;
        if (!now.empty()) {
            long sum = 0;
            for (int p : now) sum += p;
            centre = static_cast<int>(sum / static_cast<long>(now.size()));
        }
        begin = std::clamp(centre - N / 2, bb, be - N);
    }
    begin = std::clamp(begin, 0, L - N);
    return {begin, begin + N};
}

Window canvas_window(const RunInfo& info, int max_tokens) {
    const int L = info.canvas_length, P = info.prompt_length, N = std::max(1, max_tokens);
    if (L <= N) return {0, L};
    const int prompt_n = std::min(P, std::max(N / 2, N - (L - P)));
    return {P - prompt_n, P - prompt_n + N};
}

Window query_window(const Window& keys, int row_begin, int row_end, int max_tokens) {
    const int b = std::max(keys.begin, row_begin), e = std::min(keys.end, row_end);
    if (b < e) return {b, e};
    return {row_begin, std::min(row_end, row_begin + std::max(1, max_tokens))};
}

}  // namespace dlmscope::render
