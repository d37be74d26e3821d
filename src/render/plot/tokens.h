// dlmscope render: what the figures need from a run's manifest, read once — the canvas layout,
// the token pieces, the commit events — plus the token labels of a step and the token window.
//
// Labels come from the canvas of the step being drawn, not from the final canvas: a position that
// is still masked shows "▒" (and "▒→piece" when this very step commits it); a committed position
// shows the manifest's piece for it, escaped so whitespace and control characters are visible
// ("↵", "␣", "⇥", "<0x07>"). Special tokens (<|eot_id|>, <id:N> rows) are flagged for a distinct style.
// Without pieces (an incomplete run has no `tokens` yet) a position shows its token id, "#1234".
//
// The window: at most max_tokens positions, chosen around the generated region, never a top-left
// crop — the whole canvas when it fits; else the generated region plus the last prompt tokens; else
// the current block centred (or, inside a block longer than the window, the positions this step
// commits). The prompt-and-answer heatmap has its own window (canvas_window): the whole canvas, or
// the positions around the prompt | generation boundary. No cairo here.
#pragma once

#include "analysis/run-reader.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dlmscope::render {

// One step's commits, from the manifest's `steps`.
struct CommitEvent {
    int step = -1, block = -1;
    std::vector<int> positions;
    std::vector<double> confidences;
};

// One sampler step's forward, from the manifest's `steps` records.
struct StepForward {
    std::string kind = "full";       // full | prefix | dual
    int row_begin = 0, row_end = 0;  // [begin, end) the canvas rows it recomputed
};

struct RunInfo {
    int prompt_length = 0;  // P
    int canvas_length = 0;  // L
    int total_steps = 0;    // the steps the run took
    int steps_per_block = 0;  // 0 when the schedule varies (threshold or cached decoding)
    int block_length = 0;   // generated positions per block
    int num_blocks = 1;
    // The schedule: block b ran steps block_start[b] … block_start[b] + block_steps[b] − 1. From the
    // steps' records (else the manifest's block_steps, else steps_per_block); empty when unknown.
    std::vector<int> block_start, block_steps;
    std::vector<StepForward> forwards;  // [step] (empty for a run without records)
    std::string cache_mode = "none";
    int32_t mask_id = -1;
    std::vector<int32_t> final_ids;    // [L] prompt_ids + output_ids (empty for an incomplete run)
    std::vector<std::string> pieces;   // [L] manifest `tokens` (empty for an incomplete run)
    std::vector<int> commit_step;      // [L] (empty for an incomplete run)
    std::vector<CommitEvent> commits;  // by step (empty for an incomplete run)
    std::string model_type, prompt, remasking;
    std::string run_name;              // the manifest's file name, for titles

    // The block a generated position belongs to (-1 for the prompt).
    int block_of_position(int pos) const;
    // The block a step belongs to.
    int block_of_step(int step) const;
    // True when the blocks took different numbers of steps.
    bool schedule_varies() const;
    // "8 steps each" or "steps per block 16, 14, 16, 14" ("" when unknown).
    std::string block_steps_text() const;
    // "block 1 of blocks 0–3 (its steps: 16–29)" (without the steps when unknown).
    std::string block_text(int block) const;
    // The positions committed at `step` (empty when unknown).
    std::span<const int> committed_at(int step) const;
};

RunInfo read_run_info(const analysis::RunReader& run);

enum class TokenClass { prompt, generated, masked };

struct TokenLabel {
    std::string text;
    TokenClass cls = TokenClass::prompt;
    bool special = false;        // <|…|> tokens and <id:N> rows
    bool committed_now = false;  // masked in this step's canvas, committed by this step
};

// The label of canvas position `pos` at `step`, from the canvas that step's forward saw.
TokenLabel label_at(const RunInfo& info, std::span<const int32_t> canvas, int pos, int step);

// A piece made visible: whitespace and control characters escaped, long pieces cut with "…".
std::string display_piece(std::string_view piece, size_t max_chars = 14);
// True for pieces such as <|eot_id|>, <|mdm_mask|>, <id:301>.
bool is_special_piece(std::string_view piece);

struct Window {
    int begin = 0, end = 0;  // [begin, end) canvas positions
    int size() const { return end - begin; }
    bool contains(int pos) const { return pos >= begin && pos < end; }
};

// The key window of at most max_tokens positions for `step` (-1: no particular step; the last
// block is taken as current). See the file comment for the rule.
Window choose_window(const RunInfo& info, int max_tokens, int step);
// The window of the prompt and the answer: the whole canvas when it has at most max_tokens
// positions; else max_tokens positions around the prompt | generation boundary, as many of the
// prompt's as of the generated region's (all of the shorter side, the rest from the other).
Window canvas_window(const RunInfo& info, int max_tokens);
// The query rows to draw: the key window clipped to the stored rows [row_begin, row_end); when
// they do not overlap, the first max_tokens stored rows.
Window query_window(const Window& keys, int row_begin, int row_end, int max_tokens);

}  // namespace dlmscope::render
