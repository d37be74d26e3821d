target_sources(dlmscope PRIVATE
    cli/main.cpp
    cli/cmd-generate.cpp
    cli/cmd-inspect.cpp
)
