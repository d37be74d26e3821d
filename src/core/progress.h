// dlmscope core: progress on stderr — a bar on a terminal, nothing otherwise.
#pragma once

#include <chrono>
#include <string>

namespace dlmscope {

class Progress {
public:
    // `total` units of work labelled `label`. Draws only when stderr is a terminal and
    // `enabled` is true; a redirected stderr stays clean for logs.
    Progress(std::string label, int total, bool enabled = true);
    ~Progress();
    void update(int done, const std::string& note = "");
    void finish();

private:
    std::string label_;
    int total_;
    bool active_;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace dlmscope
