target_sources(dlmscope_engine PRIVATE
    src/engine/checkpoint/config.cpp
    src/engine/checkpoint/safetensors.cpp
)
