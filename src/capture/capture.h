// dlmscope capture: the attention tap that selects, reduces and streams attention to a run directory.
//
//   engine forward ──wants(step, layer)?──► CaptureTap ──► stats of every head (always)
//                  ──on_attention(probs)──►            ──► selected maps (head mean / heads, rows)
//                  ──on_forward_end──────►  StepPacket ──► bounded queue ──► writer thread
//                                                                  NAME/step_00017.npz + manifest
//
// The writer thread builds one .npz per captured step (canvas, key_step, stats, attn), writes it atomically,
// then indexes it in the manifest; the producer blocks when the queue is full, so memory stays
// bounded by `queue_capacity` steps whatever the number of steps. A write error (disk full, file
// size limit) is reported on the generating thread at the next step, as an Error naming the file.
//
// A cached forward recomputes only some query rows: the step stores those rows alone (the
// selection's rows intersected with the recomputed ones; no attention when they do not meet), its
// statistics cover the recomputed rows, and key_step says which step computed each key column.
// With block-ends and a variable schedule (threshold or cache), each step of a block is held until
// the next forward shows whether it was the block's last; only block ends are written.
#pragma once

#include "capture/run-writer.h"
#include "dlmscope/selection.h"
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
    int steps = 0;            // the most steps the run can take (capture-steps lists are checked against it)
    int steps_per_block = 0;  // 0 when it varies (threshold or cached decoding)
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
    std::vector<int32_t> key_step;   // [L] the step that computed each key column's K/V
    int query_begin = 0, query_end = 0;  // the recomputed query rows
    int row_begin = 0, row_end = 0;      // the stored rows: capture rows ∩ recomputed rows
    bool provisional = false;            // a block-end candidate, held until the next forward
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

    // Writes a held block-end step (the run's last forward ended its block), waits for the queue to
    // drain and stops the writer. Throws the writer's error, if any.
    void finish();
    // Drops a held step, stops the writer, never throws (used while unwinding).
    void finish_quietly() noexcept;

    // What the manifest's "capture" field says: selection, shapes, bytes written, timings.
    json summary() const;

private:
    void enqueue(std::unique_ptr<StepPacket> p);
    void stop_writer();
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
    std::unique_ptr<StepPacket> held_;     // a block-end candidate (variable schedule)
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
