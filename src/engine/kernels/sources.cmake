target_sources(dlmscope_engine PRIVATE
    src/engine/kernels/cpu.cpp
    src/engine/kernels/ref.cpp
)
