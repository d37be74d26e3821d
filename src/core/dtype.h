// dlmscope core: element types of stored tensors (checkpoints, weights handed to the kernels).
#pragma once

#include <cstddef>

namespace dlmscope {

enum class DType { f32, f16, bf16 };

const char* dtype_name(DType t);  // "F32", "F16", "BF16"
size_t dtype_size(DType t);

}  // namespace dlmscope
