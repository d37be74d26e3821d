// The reference backend: the scalar, double-accumulating kernels of ref.cpp — the oracle every other
// backend is tested against, and runnable on any CPU.
#include "engine/kernels/kernels.h"

#include <vector>

namespace dlmscope::kernels {

namespace {

class ReferenceBackend final : public Backend {
public:
    const char* name() const override { return "reference"; }
    std::string isa() const override { return "scalar C++, double accumulation"; }
    bool available() const override { return true; }
    bool prefers_f32_weights() const override { return true; }

    void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const override {
        if (w.precision == Precision::f32) return ref::matmul(x, M, ldx, w.src, y, ldy);
        std::vector<float> xr(static_cast<size_t>(M * w.cols()));
        round_rows_to_bf16(x, M, w.cols(), ldx, xr.data());
        ref::matmul(xr.data(), M, w.cols(), w.src, y, ldy);
    }
    void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y) const override {
        ref::rmsnorm(x, M, d, w, eps, y);
    }
    void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin) const override {
        ref::rope(x, L, ld, n_heads, hd, cos, sin);
    }
    void silu_mul(const float* g, const float* u, float* z, int64_t n) const override { ref::silu_mul(g, u, z, n); }
    void attention(const float* q, int64_t Lq, const float* k, const float* v, int64_t Lk, int n_heads, int n_kv_heads, int hd,
                   float* probs, float* o) const override {
        ref::attention(q, Lq, k, v, Lk, n_heads, n_kv_heads, hd, probs, o);
    }
};

}  // namespace

const Backend& reference_backend() {
    static const ReferenceBackend b;
    return b;
}

}  // namespace dlmscope::kernels
