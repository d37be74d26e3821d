// dlmscope core: element types of stored tensors (checkpoints, weights handed to the kernels).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dlmscope {

enum class DType { f32, f16, bf16 };

const char* dtype_name(DType t);  // "F32", "F16", "BF16"
size_t dtype_size(DType t);

// Widens n elements of type t at src to f32 (bf16 and f16 exactly, as half.h defines them): the one
// conversion loop behind weight rows, the kernels' reads of stored weights and .npy floats.
void to_f32(DType t, const void* src, int64_t n, float* out);

}  // namespace dlmscope
