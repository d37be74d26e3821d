# The kernels: one file per backend (registry in backend.cpp). x86 backends compile their kernels
# under `#pragma GCC target` regions and are chosen at run time from cpuid (cpu-features.cpp);
# nothing here is built with -march.
target_sources(dlmscope_engine PRIVATE
    src/engine/kernels/backend.cpp
    src/engine/kernels/backend-openblas.cpp
    src/engine/kernels/backend-reference.cpp
    src/engine/kernels/cpu-features.cpp
    src/engine/kernels/cpu.cpp
    src/engine/kernels/ref.cpp
    src/engine/kernels/team.cpp
)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    target_sources(dlmscope_engine PRIVATE
        src/engine/kernels/backend-amx.cpp
        src/engine/kernels/backend-avx2.cpp
        src/engine/kernels/backend-avx512.cpp
        src/engine/kernels/backend-avx512-bf16.cpp
    )
endif()
# GCC 12's AVX-512 intrinsics (_mm512_reduce_add_ps, _mm512_cvtepu16_epi32, _mm512_slli_epi32) pass
# _mm512_undefined_*() as their unused merge operand, which -Wuninitialized flags once inlined.
set_source_files_properties(
    src/engine/kernels/backend-amx.cpp src/engine/kernels/backend-avx512.cpp src/engine/kernels/backend-avx512-bf16.cpp
    PROPERTIES COMPILE_OPTIONS "-Wno-uninitialized;-Wno-maybe-uninitialized")
