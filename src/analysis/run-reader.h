// dlmscope analysis: reading a run directory (docs/run-format.md) one captured step at a time.
//
//   RunReader run = RunReader::open("logs");          // a run directory or its manifest
//   for (size_t k = 0; k < run.steps().size(); ++k) {
//       StepCapture s = run.load_step(k);             // reads step_SSSSS.npz now, nothing before
//       ... s.stats_of(layer_index, head, row_set) ... s.map(layer_index, stored_head) ...
//   }
//
// open() reads and checks the manifest only (format, version, the fields analysis needs, the
// arrays index); arrays are read when a step is loaded, so memory is bounded by one step. An
// incomplete run (complete: false) opens with a warning and exposes the steps it indexed.
#pragma once

#include "core/cache-drift.h"
#include "core/json.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dlmscope::analysis {

// Which attention maps a run stores (capture `heads`).
enum class MapHeads { none, mean, all, list };

// One captured step as indexed in the manifest (nothing read yet).
struct StepIndex {
    int step = -1, block = -1, step_in_block = -1;
    std::string file;         // path of step_SSSSS.npz (manifest folder + the entry's file)
    std::vector<int> layers;  // model layers along the arrays' first axis
    bool has_attn = false;
    int query_begin = 0, query_end = 0;  // the rows this step's forward recomputed
    int attn_begin = 0, attn_end = 0;    // the rows its attention entry stores (⊂ the run's map rows)
    bool has_key_step = false;
};

// One sampler step as the manifest's "steps" records say (every step, captured or not).
struct StepRecordInfo {
    int step = -1, block = -1, step_in_block = -1;
    std::string kind = "full";           // full | prefix | dual
    int row_begin = 0, row_end = 0;      // the canvas rows its forward recomputed
};

// The arrays of one step, converted to float32.
struct StepCapture {
    int step = -1, block = -1, step_in_block = -1;
    std::vector<int> layers;       // model layers along the first axis
    std::vector<int32_t> canvas;   // [L] the canvas the forward saw
    std::vector<float> stats;      // [nl, H, kNumRowSets, kNumStats], capture/stats.h order
    std::vector<float> maps;       // [nl, Hs, R, L], empty without maps; rows not recomputed are NaN
    std::vector<uint8_t> recomputed;  // [L] 1 where the forward recomputed the query row
    std::vector<int32_t> key_step;    // [L] the step that computed each key column (age = step − key_step)
    int query_begin = 0, query_end = 0;
    int n_heads = 0;               // H
    int stored_heads = 0;          // Hs (0 without maps)
    int row_begin = 0, row_end = 0;
    int canvas_length = 0;         // L

    // The nine statistics of (layer index, head, row set).
    std::span<const float> stats_of(int layer_index, int head, int row_set) const;
    // The stored rows of one (layer index, stored head), [R × L].
    const float* map(int layer_index, int stored_head) const;
    bool row_recomputed(int pos) const { return pos >= query_begin && pos < query_end; }
    // The mean over the stored heads of one layer, [R × L] (rows not recomputed stay NaN): the stored
    // map itself when one head is stored (the capture's head mean), else computed into `buf`. The
    // one definition analysis, figures and viewer use.
    const float* head_mean(int layer_index, std::vector<float>& buf) const;
};

// The cache audit of a run (--cache-audit): cached vs exact attention per audited step.
struct CacheDrift {
    std::vector<int> steps;              // [n] the audited steps
    int n_layers = 0, n_heads = 0;
    std::vector<float> stats;            // [n, n_layers, n_heads, kNumDriftStats]: l1_mean, l1_max, js_mean
    // From the steps' records: per audited step, the logits' drift.
    std::vector<double> logits_max_abs;  // [n]
    std::vector<int> argmax_agree, argmax_rows;  // [n]
    float at(size_t k, int layer, int head, int stat) const {
        return stats[((k * n_layers + layer) * n_heads + head) * kNumDriftStats + stat];
    }
};

class RunReader {
public:
    // Opens a manifest file, or a run directory holding one (generation_with_attention.json, else
    // the only *.json with "format": "dlmscope-run"). Throws Error naming the file and field.
    static RunReader open(const std::string& input);

    const json& manifest() const { return m_; }
    const std::string& manifest_path() const { return path_; }
    const std::string& root() const { return root_; }  // the manifest's folder
    bool complete() const { return complete_; }
    // Warnings found while opening (incomplete run, steps missing from the index, …).
    const std::vector<std::string>& warnings() const { return warnings_; }

    int prompt_length() const { return prompt_length_; }
    int canvas_length() const { return canvas_length_; }
    int n_layers() const { return n_layers_; }  // layers of the model
    int n_heads() const { return n_heads_; }
    int total_steps() const { return total_steps_; }  // steps the run took (params.steps for older runs)
    // Steps of every block when fixed (the plain sampler); 0 when they vary (threshold or cache).
    int steps_per_block() const { return steps_per_block_; }
    // Every step's record (block, kind, recomputed rows), from the manifest; empty for a run without.
    const std::vector<StepRecordInfo>& schedule() const { return schedule_; }
    // True when `step` was the last step of its block (from the records; else steps_per_block).
    bool is_block_last(int step) const;
    // The cache mode the run used ("none" for runs before cached decoding).
    const std::string& cache_mode() const { return cache_mode_; }
    // True when the run holds a cache audit (cache_drift.npy indexed in "arrays").
    bool has_cache_drift() const;
    // Reads the cache audit; throws Error naming the file when it is missing or malformed.
    CacheDrift load_cache_drift() const;
    int32_t mask_id() const { return mask_id_; }

    MapHeads map_heads() const { return map_heads_; }
    const std::string& map_heads_label() const { return map_heads_label_; }
    const std::vector<int>& map_head_list() const { return map_head_list_; }  // model heads of a list
    int stored_heads() const { return stored_heads_; }
    std::pair<int, int> map_rows() const { return {row_begin_, row_end_}; }
    std::string map_dtype() const { return map_dtype_; }
    const std::vector<int>& captured_layers() const { return layers_; }

    // Captured steps in ascending step order.
    const std::vector<StepIndex>& steps() const { return steps_; }
    // Reads steps()[k]'s archive and checks every member against the index.
    StepCapture load_step(size_t k) const;

private:
    static RunReader open_manifest(const std::string& manifest_path);
    json m_;
    std::string path_, root_;
    bool complete_ = false;
    std::vector<std::string> warnings_;
    int prompt_length_ = 0, canvas_length_ = 0, n_layers_ = 0, n_heads_ = 0, total_steps_ = 0, steps_per_block_ = 0;
    int32_t mask_id_ = -1;
    MapHeads map_heads_ = MapHeads::none;
    std::string map_heads_label_ = "none";
    std::vector<int> map_head_list_;
    int stored_heads_ = 0;
    int row_begin_ = 0, row_end_ = 0;
    std::string map_dtype_ = "none";
    std::vector<int> layers_;
    std::vector<int> stat_index_;     // capture/stats.h stat k is at stat_index_[k] of the file's axis
    std::vector<int> row_set_index_;  // likewise for the row-set axis
    int file_stats_ = 0, file_row_sets_ = 0;
    std::vector<StepIndex> steps_;
    std::vector<StepRecordInfo> schedule_;
    std::string cache_mode_ = "none";
};

}  // namespace dlmscope::analysis
