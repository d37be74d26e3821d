target_sources(dlmscope_engine PRIVATE
    src/engine/sampler/diffusion.cpp
    src/engine/sampler/noise.cpp
)
