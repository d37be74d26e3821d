// dlmscope: in-memory attention capture for programs that embed the engine.
//
// AttentionRecorder keeps the probabilities of the selected (step, layer) pairs in memory, as
// float32 [stored heads, queries, keys] (head mean by default). For long runs or large models,
// stream to disk with the CLI's --visualize-attention (src/capture/capture.h) instead.
#pragma once

#include "dlmscope/selection.h"
#include "dlmscope/tap.h"

#include <map>
#include <utility>
#include <vector>

namespace dlmscope {

class AttentionRecorder final : public AttentionTap {
public:
    explicit AttentionRecorder(CaptureSelection sel = {}) : sel_(std::move(sel)) {}

    bool wants(const TapContext& ctx, int layer) override;
    void on_attention(const TapContext& ctx, int layer, const AttentionProbs& probs) override;

    struct Map {
        int step = -1, block = -1;
        int heads = 0, queries = 0, keys = 0;
        int row_begin = 0;        // canvas position of the first stored query row
        std::vector<float> data;  // [heads, queries, keys]
        // Per key column, the step that computed its K/V (earlier than `step` for keys read from a
        // cache); the stored rows are only ever rows the forward recomputed.
        std::vector<int> key_step;
    };
    // Captured maps keyed by (step, layer); steps of forwards outside generate() are -1 unless
    // Engine::set_context said otherwise.
    const std::map<std::pair<int, int>, Map>& maps() const { return maps_; }
    void clear() { maps_.clear(); }

private:
    CaptureSelection sel_;
    std::map<std::pair<int, int>, Map> maps_;
};

}  // namespace dlmscope
