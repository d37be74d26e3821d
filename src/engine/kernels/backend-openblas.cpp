// The openblas backend: every product through OpenBLAS sgemm on f32 (weights widened at load when
// memory allows, otherwise widened chunk by chunk per call). Runs on any x86-64 CPU.
#include "engine/kernels/kernels.h"

#include <vector>

namespace dlmscope::kernels {

namespace {

class OpenBlasBackend final : public Backend {
public:
    const char* name() const override { return "openblas"; }
    std::string isa() const override { return "OpenBLAS sgemm (f32)"; }
    bool available() const override { return true; }
    bool prefers_f32_weights() const override { return true; }

    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        if (w.precision == Precision::f32) return cpu::matmul(x, M, ldx, w.src, y, ldy);
        thread_local std::vector<float> xr;
        xr.resize(static_cast<size_t>(M * w.cols()));
        round_rows_to_bf16(x, M, w.cols(), ldx, xr.data());
        cpu::matmul(xr.data(), M, w.cols(), w.src, y, ldy);
    }
};

}  // namespace

const Backend& openblas_backend() {
    static const OpenBlasBackend b;
    return b;
}

}  // namespace dlmscope::kernels
