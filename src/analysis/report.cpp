#include "analysis/report.h"

#include "capture/stats.h"
#include "core/error.h"
#include "core/file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iterator>

namespace dlmscope::analysis {

ojson json_number(double v) { return std::isfinite(v) ? ojson(v) : ojson(nullptr); }

std::string csv_number(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : std::string(); }

MetricsCsvWriter::MetricsCsvWriter(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) fail("cannot create {}: {}", tmp_, std::strerror(errno));
    buf_ = "step,layer,head,rows";
    for (const char* name : kMetricNames) (buf_ += ',') += name;
    buf_ += '\n';
}

MetricsCsvWriter::~MetricsCsvWriter() {
    if (f_) {
        std::fclose(f_);
        std::error_code ec;
        std::filesystem::remove(tmp_, ec);
    }
}

void MetricsCsvWriter::row(int step, int layer, int head, int row_set, const MetricValues& v) {
    auto out = std::back_inserter(buf_);
    if (head < 0) fmt::format_to(out, "{},{},mean,{}", step, layer, kRowSetNames[row_set]);
    else fmt::format_to(out, "{},{},{},{}", step, layer, head, kRowSetNames[row_set]);
    for (double x : v) {
        buf_ += ',';
        if (std::isfinite(x)) fmt::format_to(out, "{:.9g}", x);
    }
    buf_ += '\n';
    ++rows_;
    if (buf_.size() > (1u << 20)) flush();
}

void MetricsCsvWriter::flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
        fail("cannot write {}: {}", tmp_, std::strerror(errno));
    buf_.clear();
}

void MetricsCsvWriter::close() {
    if (!f_) return;
    flush();
    const bool bad = std::fflush(f_) != 0 || std::ferror(f_);
    const int err = errno;
    std::fclose(f_);
    f_ = nullptr;
    std::error_code ec;
    if (bad) {
        std::filesystem::remove(tmp_, ec);
        fail("cannot write {}: {}", path_, std::strerror(err));
    }
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) fail("cannot rename {} to {}: {}", tmp_, path_, ec.message());
}

void write_report(const std::string& path, const ojson& report) {
    const std::string text = report.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
    write_file_atomic(path, {{text.data(), text.size()}});
}

}  // namespace dlmscope::analysis
