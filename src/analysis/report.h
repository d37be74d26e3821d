// dlmscope analysis: the output writers — metrics.csv (tidy, streamed) and report.json.
//
// metrics.csv has one row per (step, layer, head, rows):
//   step,layer,head,rows,entropy,entropy_norm,density,focus_self,focus_local,mass_prompt,
//   mass_generated,mass_masked,mass_sink,step_change
// `head` is a model head index or `mean`; `rows` is all, generated or masked. Numbers are written
// with %.9g (round-trips a float32), NaN as an empty field (pandas reads it as NaN).
// report.json: docs/metrics.md has the schema; NaN and ±inf are written as null.
#pragma once

#include "analysis/metrics.h"
#include "core/json.h"

#include <cstdio>
#include <string>

namespace dlmscope::analysis {

inline constexpr const char* kReportSchema = "dlmscope-report";
inline constexpr int kReportSchemaVersion = 1;

// report.json keeps its keys in the order they were written (schema first), unlike json.
using ojson = nlohmann::ordered_json;

// A number for JSON: null when not finite.
ojson json_number(double v);
// "%.9g" of v, or "" for NaN / ±inf.
std::string csv_number(double v);

// Writes metrics.csv row by row to PATH.tmp and renames it to PATH on close(), so a failed
// analysis never leaves a half table under the final name.
class MetricsCsvWriter {
public:
    explicit MetricsCsvWriter(std::string path);
    ~MetricsCsvWriter();
    MetricsCsvWriter(const MetricsCsvWriter&) = delete;
    MetricsCsvWriter& operator=(const MetricsCsvWriter&) = delete;

    // head < 0 writes `mean`; row_set indexes kRowSetNames.
    void row(int step, int layer, int head, int row_set, const MetricValues& v);
    // Flushes, closes and renames; throws Error naming the file on a write error.
    void close();
    size_t rows() const { return rows_; }

private:
    void flush();
    std::string path_, tmp_;
    std::FILE* f_ = nullptr;
    std::string buf_;
    size_t rows_ = 0;
};

// Writes report.json atomically (2-space indent).
void write_report(const std::string& path, const ojson& report);

}  // namespace dlmscope::analysis
