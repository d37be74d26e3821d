target_sources(dlmscope_engine PRIVATE
    src/engine/model/forward.cpp
    src/engine/model/model.cpp
)
