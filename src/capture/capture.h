// dlmscope capture: the attention tap that selects, reduces and streams attention to a run directory.
//
//   engine forward ──wants(step, layer)?──► CaptureTap ──► stats of every head (always)
//                  ──on_attention(probs)──►            ──► selected maps (head mean / heads, rows)
//                  ──on_forward_end──────►  StepPacket ──► bounded queue ──► writer thread
//                                                                  NAME/step_00017.npz + manifest
//
// The writer thread builds one .npz per captured step (canvas, stats, attn), writes it atomically,
// then indexes it in the manifest; the producer blocks when the queue is full, so memory stays
// bounded by `queue_capacity` steps whatever the number of steps. A write error (disk full, file
// size limit) is reported on the generating thread at the next step, as an Error naming the file.
#pragma once

#include "capture/run-writer.h"
#include "capture/selection.h"
#include "dlmscope/tap.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dlmscope {

struct CaptureLayout {
    int n_layers = 0;
    int n_heads = 0;
    int steps = 0;
    int steps_per_block = 0;
    int prompt_length = 0;
    int canvas_length = 0;
    int32_t mask_id = -1;
};

// Everything captured at one step, handed from the generating thread to the writer.
struct StepPacket {
    int step = 0;
    int block = 0;
    int step_in_block = 0;
    std::vector<int32_t> canvas;     // [L] the canvas the forward saw
    std::vector<int> layers;         // captured layers, in order
    std::vector<float> stats;        // [n_layers_sel, H, kNumRowSets, kNumStats]
    std::vector<float> maps;         // [n_layers_sel, stored_heads, rows, L] (f32 until written)
};

class CaptureTap final : public AttentionTap {
public:
    CaptureTap(const CaptureSelection& sel, const CaptureLayout& layout, RunWriter& run, size_t queue_capacity = 4);
    ~CaptureTap() override;
    CaptureTap(const CaptureTap&) = delete;
    CaptureTap& operator=(const CaptureTap&) = delete;

    void on_forward_begin(const TapContext& ctx) override;
    bool wants(const TapContext& ctx, int layer) override;
    void on_attention(const TapContext& ctx, int layer, const AttentionProbs& probs) override;
    void on_forward_end(const TapContext& ctx) override;

    // Waits for the queue to drain and stops the writer. Throws the writer's error, if any.
    void finish();
    // Like finish() but never throws (used while unwinding).
    void finish_quietly() noexcept;

    // What the manifest's "capture" field says: selection, shapes, bytes written, timings.
    json summary() const;

private:
    void writer_loop();
    void write_packet(StepPacket& p);
    void rethrow_writer_error();

    CaptureSelection sel_;
    CaptureLayout layout_;
    RunWriter& run_;
    size_t capacity_;
    std::vector<int> layers_;
    int stored_heads_ = 0;
    int row_begin_ = 0, row_end_ = 0;

    std::unique_ptr<StepPacket> current_;  // being filled by the generating thread
    std::vector<uint8_t> key_class_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<StepPacket>> queue_;
    bool stop_ = false;
    std::exception_ptr error_;
    std::thread writer_;

    // Statistics of the run (written by the writer thread under mu_).
    int steps_written_ = 0;
    uint64_t bytes_written_ = 0;
    uint64_t raw_bytes_ = 0;
    double tap_seconds_ = 0.0;     // time spent inside the tap on the generating thread
    double write_seconds_ = 0.0;   // time spent writing on the writer thread
};

}  // namespace dlmscope
