target_sources(dlmscope_engine PRIVATE
    src/engine/model/denoiser.cpp
    src/engine/model/forward.cpp
    src/engine/model/kv-cache.cpp
    src/engine/model/model.cpp
)
