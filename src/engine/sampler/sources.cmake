target_sources(dlmscope_engine PRIVATE
    src/engine/sampler/audit.cpp
    src/engine/sampler/diffusion.cpp
    src/engine/sampler/noise.cpp
    src/engine/sampler/schedule.cpp
    src/engine/sampler/select.cpp
)
