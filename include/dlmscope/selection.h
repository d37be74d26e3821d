// dlmscope: what to capture — steps, layers, heads, query rows, precision.
//
//   steps   all | 0,5,9 | every:K | block-ends          (block-ends = first and last step of each block)
//   layers  all | 0,3,7 | 4-11                          (ranges inclusive; lists may mix: 0,4-7)
//   heads   mean | all | 0,2,5 | none                   (none = statistics only, no maps)
//   rows    all | generated | A:B                       (query rows; A:B = canvas positions A..B-1)
//   dtype   f16 | f32
// Statistics are computed for every head of every selected (step, layer) whatever `heads` says.
#pragma once

#include <cstdint>
#include <utility>
#include <string>
#include <vector>

namespace dlmscope {

struct CaptureSelection {
    enum class Steps { all, list, every, block_ends } steps = Steps::all;
    std::vector<int> step_list;
    int every = 1;

    bool all_layers = true;
    std::vector<int> layer_list;  // sorted, unique

    enum class Heads { mean, all, list, none } heads = Heads::mean;
    std::vector<int> head_list;

    enum class Rows { all, generated, range } rows = Rows::all;
    int row_begin = 0, row_end = 0;

    bool f16 = true;

    // Parsers; each throws Error naming the option and the value it could not read.
    void parse_steps(const std::string& s);
    void parse_layers(const std::string& s);
    void parse_heads(const std::string& s);
    void parse_rows(const std::string& s);
    void parse_dtype(const std::string& s);

    // Checks lists against the model and run; throws Error naming the bad value.
    void validate(int n_layers, int n_heads, int steps, int canvas_length) const;

    bool wants_step(int step, int step_in_block, int steps_per_block) const;
    bool wants_layer(int layer) const;
    std::vector<int> layers(int n_layers) const;  // the selected layers in order
    // Query rows kept, as [begin, end) of canvas positions.
    std::pair<int, int> row_range(int prompt_length, int canvas_length) const;
    int stored_heads(int n_heads) const;  // 0 (none), 1 (mean), n_heads (all) or the list size
    std::string heads_label() const;       // "mean", "all", "none" or "0,2,5"
    std::string describe() const;          // one line for the manifest and logs
};

}  // namespace dlmscope
