target_sources(dlmscope PRIVATE
    cli/main.cpp
    cli/cmd-analyze.cpp
    cli/cmd-generate.cpp
    cli/cmd-inspect.cpp
    cli/cmd-plot.cpp
    cli/cmd-view.cpp
)
