// dlmscope kernels: backends — one set of kernels per instruction-set level, chosen at run time.
//
// A Backend owns the forward pass's numeric kernels. The matrix product is where backends differ:
// each may put a weight into its own layout once at load (prepare: pack into AMX tiles, round to
// bf16, or keep the mapped bytes) and reads it from there at every matmul. The other kernels
// (RMSNorm, RoPE, SiLU, attention) are shared by the fast backends (cpu.cpp) and written out
// plainly by the reference backend (ref.cpp).
//
// Backends are listed in the registry in backend.cpp; a file per backend. `select_backend("auto")` takes the first
// available one in registry order (the fastest first); tests loop over every available one.
//
// Precision (docs/backends.md):
//   f32   matmul operands as loaded (bf16 weights widen exactly), f32 accumulation — the official
//         code run in f32; the parity suite's precision.
//   bf16  both matmul operands rounded to bf16 (round-to-nearest-even), exact products, f32
//         accumulation — what the official code computes on a GPU in bf16. Attention scores,
//         softmax, P·V, norms and RoPE stay f32.
#pragma once

#include "core/dtype.h"
#include "dlmscope/types.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dlmscope::kernels {

// A row-major [rows, cols] matrix of f32, bf16 or f16 (PyTorch Linear layout: [out, in]).
struct Matrix {
    DType dtype = DType::f32;
    const void* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
};

using dlmscope::Precision;  // include/dlmscope/types.h
using dlmscope::parse_precision;
using dlmscope::precision_name;

// A 2-D weight as one backend's matmul reads it: the source matrix, possibly a copy in a layout of
// the backend's own (layout != 0; its bytes in `packed`).
struct PreparedWeight {
    Matrix src;                    // as loaded: mapped file bytes or a widened copy
    Precision precision = Precision::f32;
    int layout = 0;                // 0: read src as it is; otherwise defined by the backend
    const void* packed = nullptr;  // the backend's copy (layout != 0)
    size_t packed_bytes = 0;
    std::shared_ptr<void> storage;  // owns `packed`

    int64_t rows() const { return src.rows; }
    int64_t cols() const { return src.cols; }
};

class Backend {
public:
    virtual ~Backend() = default;
    // Registry name ("amx", "avx512-bf16", "avx512", "avx2", "openblas", "reference").
    virtual const char* name() const = 0;
    // The instruction sets its kernels use, for inspect/generate output.
    virtual std::string isa() const = 0;
    // Whether this CPU (and OS) can run it.
    virtual bool available() const = 0;
    // Whether weights should be widened to f32 at load when memory allows (`--weights auto`).
    virtual bool prefers_f32_weights() const { return false; }

    // Puts a 2-D weight into the layout matmul wants, once at load. The default keeps f32 precision
    // weights as they are and, for bf16 precision, keeps bf16 weights and rounds others to a bf16 copy.
    virtual PreparedWeight prepare(const Matrix& w, Precision p) const;
    // y[M, N] = x[M, K] · Wᵀ with W [N, K]; ldx/ldy are the row strides of x and y.
    virtual void matmul(const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy) const = 0;

    // y = w ⊙ x / sqrt(mean(x²) + eps), per row of x [M, d]; w is a vector of d.
    virtual void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y) const;
    // Rotates each head of x [L, n_heads*hd] (row stride ld) in place: pairs (j, j + hd/2).
    virtual void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin) const;
    // z = silu(g) ⊙ u, n elements.
    virtual void silu_mul(const float* g, const float* u, float* z, int64_t n) const;
    // Bidirectional attention of every head: P_h = softmax(q_h k_hᵀ / sqrt(hd)), o_h = P_h v_h.
    // q/o are [Lq, n_heads*hd], k/v [Lk, n_kv_heads*hd] (Lq < Lk when only some rows are recomputed
    // against cached keys); head h reads kv head h / (n_heads / n_kv_heads).
    // probs [n_heads, Lq, Lk] receives P when non-null; null means nobody observes it.
    virtual void attention(const float* q, int64_t Lq, const float* k, const float* v, int64_t Lk, int n_heads, int n_kv_heads,
                           int hd, float* probs, float* o) const;
};

// Every backend compiled in, in the order "auto" tries them (fastest first).
const std::vector<const Backend*>& backends();
// "auto": the first available backend; otherwise the backend of that name, which must be available.
// Errors name the backend and list the ones this machine can run.
const Backend& select_backend(const std::string& name);
// Names of the available backends, comma-separated ("amx, avx512-bf16, …").
std::string available_backend_names();

// Helpers shared by backends.
// Rounds n floats to bf16 (RNE) into out; NaN stays NaN.
void round_to_bf16(const float* x, int64_t n, uint16_t* out);
// A weight read as it is (layout 0).
PreparedWeight as_is(const Matrix& w, Precision p);
// A bf16 copy of a weight (rounded to nearest even), as a prepared weight of layout 0.
PreparedWeight bf16_copy(const Matrix& w, Precision p);
// out[M, K] (row stride K) = x[M, K] (row stride ldx) rounded to bf16 values, kept as f32.
void round_rows_to_bf16(const float* x, int64_t M, int64_t K, int64_t ldx, float* out);
// The weights of the f32-FMA backends (panel-kernel.h): bf16 panels of `nr` output columns, each a
// run of pairs of k (layout kPanelLayout). Weights not in bf16 at f32 precision (f32/f16
// checkpoints) stay as they are (as_is) and go to OpenBLAS.
constexpr int kPanelLayout = 2;
PreparedWeight pack_panels(const Matrix& w, Precision p, int nr);
// Their matmul: x copied once per call (zero-padded to an even K, rounded to bf16 at bf16
// precision), then `range` over groups of panels on the team.
using PanelRange = void (*)(const float* x, int64_t M, int64_t K2, const uint32_t* panels, int64_t N, int64_t p0, int64_t p1, float* y,
                            int64_t ldy);
void panel_matmul(PanelRange range, int nr, const float* x, int64_t M, int64_t ldx, const PreparedWeight& w, float* y, int64_t ldy);

}  // namespace dlmscope::kernels
