#include "core/dtype.h"

#include "core/half.h"

#include <cstring>

namespace dlmscope {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "F32";
        case DType::f16: return "F16";
        case DType::bf16: return "BF16";
    }
    return "?";
}

size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

void to_f32(DType t, const void* src, int64_t n, float* out) {
    switch (t) {
        case DType::f32: std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float)); return;
        case DType::bf16: {
            const auto* p = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
            return;
        }
        case DType::f16: {
            const auto* p = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
            return;
        }
    }
}

}  // namespace dlmscope
