target_sources(dlmscope_engine PRIVATE
    src/engine/checkpoint/config.cpp
    src/engine/checkpoint/llada-tensors.cpp
    src/engine/checkpoint/safetensors.cpp
)
