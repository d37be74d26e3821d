// The Backend defaults (the shared fast kernels of cpu.cpp), the registry and the helpers backends share.
#include "engine/kernels/backend.h"

#include "core/error.h"
#include "core/half.h"
#include "engine/kernels/kernels.h"

#include <cstdlib>

namespace dlmscope::kernels {

// Each backend file defines one of these; registry order is the order "auto" tries them.
const Backend& amx_backend();
const Backend& avx512_bf16_backend();
const Backend& avx512_backend();
const Backend& avx2_backend();
const Backend& openblas_backend();
const Backend& reference_backend();

const std::vector<const Backend*>& backends() {
    static const std::vector<const Backend*> all = {
#if defined(__x86_64__)
        &amx_backend(), &avx512_bf16_backend(), &avx512_backend(), &avx2_backend(),
#endif
        &openblas_backend(), &reference_backend(),
    };
    return all;
}

std::string available_backend_names() {
    std::string s;
    for (const Backend* b : backends())
        if (b->available()) s += (s.empty() ? "" : ", ") + std::string(b->name());
    return s;
}

const Backend& select_backend(const std::string& name) {
    for (const Backend* b : backends()) {
        if (name == "auto" && b->available()) return *b;
        if (name == b->name()) {
            if (!b->available()) fail("backend '{}' needs {}, which this CPU does not have (available: {})", name, b->isa(), available_backend_names());
            return *b;
        }
    }
    std::string all;
    for (const Backend* b : backends()) all += (all.empty() ? "" : ", ") + std::string(b->name());
    fail("unknown backend '{}' (expected auto or one of: {}; this machine runs {})", name, all, available_backend_names());
}

}  // namespace dlmscope::kernels

namespace dlmscope {

Precision parse_precision(const std::string& s) {
    if (s == "f32") return Precision::f32;
    if (s == "bf16") return Precision::bf16;
    fail("unknown precision '{}' (expected f32 or bf16)", s);
}

const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "f32"; }

}  // namespace dlmscope

namespace dlmscope::kernels {

void round_to_bf16(const float* x, int64_t n, uint16_t* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

void round_rows_to_bf16(const float* x, int64_t M, int64_t K, int64_t ldx, float* out) {
    for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k) out[i * K + k] = bf16_to_f32(f32_to_bf16(x[i * ldx + k]));
}

PreparedWeight bf16_copy(const Matrix& w, Precision p) {
    PreparedWeight pw;
    pw.precision = p;
    const int64_t n = w.rows * w.cols;
    auto buf = std::shared_ptr<uint16_t[]>(new uint16_t[static_cast<size_t>(n)]);
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = 0; r < w.rows; ++r) {
        to_f32(w.dtype, static_cast<const uint8_t*>(w.data) + r * w.cols * static_cast<int64_t>(dtype_size(w.dtype)), w.cols, row.data());
        round_to_bf16(row.data(), w.cols, buf.get() + r * w.cols);
    }
    pw.src = {DType::bf16, buf.get(), w.rows, w.cols};
    pw.packed_bytes = static_cast<size_t>(n) * 2;
    pw.storage = std::move(buf);
    return pw;
}

PreparedWeight as_is(const Matrix& w, Precision p) {
    PreparedWeight pw;
    pw.src = w;
    pw.precision = p;
    return pw;
}

PreparedWeight Backend::prepare(const Matrix& w, Precision p) const {
    return p == Precision::bf16 && w.dtype != DType::bf16 ? bf16_copy(w, p) : as_is(w, p);
}

void Backend::rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y) const { cpu::rmsnorm(x, M, d, w, eps, y); }

void Backend::rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin) const {
    cpu::rope(x, L, ld, n_heads, hd, cos, sin);
}

void Backend::silu_mul(const float* g, const float* u, float* z, int64_t n) const { cpu::silu_mul(g, u, z, n); }

void Backend::attention(const float* q, int64_t Lq, const float* k, const float* v, int64_t Lk, int n_heads, int n_kv_heads, int hd,
                        float* probs, float* o) const {
    cpu::attention(q, Lq, k, v, Lk, n_heads, n_kv_heads, hd, probs, o);
}

}  // namespace dlmscope::kernels
