#include "core/dtype.h"

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

}  // namespace dlmscope
