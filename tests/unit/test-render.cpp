// Tests of the render module (src/render/): every figure kind drawn from real captured runs of the
// tiny fixture model in every format, then read back — PNG decoded by cairo (size, colours), SVG
// parsed as XML with its title and token labels present as text, PDF checked for its structure
// (and by pdfinfo / pdftotext when poppler-utils is installed); plus the pure parts: token labels,
// the token window, colormaps and scales.
//
//   1. Runs        generated once per test process with the real `dlmscope generate`
//   2. Pure        labels, window, colormaps, ticks
//   3. Figures     kinds × formats, default set, errors
//   4. Cached runs a variable schedule (block boundaries from the steps' records), a dual-cache
//                  run with an audit (rows not recomputed, keys from the cache, the drift figure)
#include "analysis/run-reader.h"
#include "core/error.h"
#include "core/json.h"
#include "core/npy.h"
#include "render/plot/colormap.h"
#include "render/plot/tokens.h"
#include "render/render.h"
#include "support/fixtures.h"

#include <cairo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

namespace dlmscope {
namespace {

namespace fs = std::filesystem;
using render::Format;
using render::Kind;

// ============================================================================================
// 1. Runs
// ============================================================================================

// One directory per test process, removed at exit unless DLMSCOPE_KEEP_TEST_OUTPUT is set (to look
// at the figures).
fs::path work_dir() {
    struct Dir {
        fs::path path = fs::temp_directory_path() / ("dlmscope-test-render-" + std::to_string(getpid()));
        Dir() {
            fs::remove_all(path);
            fs::create_directories(path);
        }
        ~Dir() {
            std::error_code ec;
            if (!std::getenv("DLMSCOPE_KEEP_TEST_OUTPUT")) fs::remove_all(path, ec);
        }
    };
    static const Dir dir;
    return dir.path;
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool have_tool(const char* name) { return std::system(fmt::format("command -v {} >/dev/null 2>&1", name).c_str()) == 0; }

// A run of the tiny model captured by the real binary: 39 prompt tokens + 32 generated, 2 blocks of
// 16, 16 steps. `capture` holds the --capture-* options.
const analysis::RunReader& run(const std::string& name, const std::string& capture) {
    static std::map<std::string, analysis::RunReader> runs;
    auto it = runs.find(name);
    if (it != runs.end()) return it->second;
    const fs::path out = work_dir() / ("run-" + name);
    const std::string cmd = fmt::format(
        "'{}/dlmscope' generate 'What is the capital of France?' --model '{}' --visualize-attention --gen-length 32 "
        "--block-length 16 --steps 16 {} --out '{}' -q > /dev/null",
        DLMSCOPE_BINARY_DIR, test::tiny_checkpoint(), capture, out.string());
    if (std::system(cmd.c_str()) != 0) throw Error("could not generate a run: " + cmd);
    return runs.emplace(name, analysis::RunReader::open(out.string())).first->second;
}

const analysis::RunReader& run_mean() { return run("mean", ""); }
const analysis::RunReader& run_all() { return run("all", "--capture-heads all --capture-dtype f32"); }
const analysis::RunReader& run_none() { return run("none", "--capture-heads none"); }

// ============================================================================================
// 2. Pure parts
// ============================================================================================

TEST(RenderLabels, PiecesAreMadeVisible) {
    EXPECT_EQ(render::display_piece("\n"), "↵");
    EXPECT_EQ(render::display_piece("\n\n"), "↵↵");
    EXPECT_EQ(render::display_piece(" the"), "␣the");
    EXPECT_EQ(render::display_piece("\t"), "⇥");
    EXPECT_EQ(render::display_piece("\x07"), "<0x07>");
    EXPECT_EQ(render::display_piece(""), "∅");
    EXPECT_EQ(render::display_piece("é"), "é");
    EXPECT_EQ(render::display_piece("abcdefghijklmnopqrstuvwxyz", 6), "abcde…");
    EXPECT_TRUE(render::is_special_piece("<|eot_id|>"));
    EXPECT_TRUE(render::is_special_piece("<id:301>"));
    EXPECT_FALSE(render::is_special_piece("<"));
    EXPECT_FALSE(render::is_special_piece("|>"));
}

render::RunInfo toy_info(int P, int gen, int block, int steps) {
    render::RunInfo info;
    info.prompt_length = P;
    info.canvas_length = P + gen;
    info.block_length = block;
    info.num_blocks = gen / block;
    info.total_steps = steps;
    info.steps_per_block = steps / info.num_blocks;
    info.mask_id = 999;
    for (int i = 0; i < info.canvas_length; ++i) {
        info.final_ids.push_back(i);
        info.pieces.push_back(i == 3 ? "<|eot_id|>" : i == 4 ? "\n" : fmt::format("p{}", i));
    }
    info.commits.resize(static_cast<size_t>(steps));
    for (int s = 0; s < steps; ++s) {
        info.commits[s].step = s;
        info.commits[s].block = s / info.steps_per_block;
    }
    return info;
}

TEST(RenderLabels, FromTheCanvasOfTheStep) {
    render::RunInfo info = toy_info(8, 8, 8, 8);
    info.commits[2].positions = {9};
    std::vector<int32_t> canvas(16);
    for (int i = 0; i < 16; ++i) canvas[i] = i < 10 ? i : 999;  // 8, 9 committed; 10… masked
    canvas[9] = 999;
    const auto prompt = render::label_at(info, canvas, 0, 2);
    EXPECT_EQ(prompt.text, "p0");
    EXPECT_EQ(prompt.cls, render::TokenClass::prompt);
    const auto special = render::label_at(info, canvas, 3, 2);
    EXPECT_TRUE(special.special);
    EXPECT_EQ(special.text, "<|eot_id|>");
    EXPECT_EQ(render::label_at(info, canvas, 4, 2).text, "↵");
    EXPECT_EQ(render::label_at(info, canvas, 8, 2).cls, render::TokenClass::generated);
    const auto now = render::label_at(info, canvas, 9, 2);  // masked in this canvas, committed by step 2
    EXPECT_TRUE(now.committed_now);
    EXPECT_EQ(now.text, "▒→p9");
    const auto masked = render::label_at(info, canvas, 12, 2);
    EXPECT_EQ(masked.cls, render::TokenClass::masked);
    EXPECT_EQ(masked.text, "▒");
    EXPECT_FALSE(masked.committed_now);
    canvas[8] = 555;  // a token that is not the final one (remasking samplers): its id
    EXPECT_EQ(render::label_at(info, canvas, 8, 2).text, "#555");
}

TEST(RenderWindow, AroundTheGeneratedRegionNeverTopLeft) {
    // Whole canvas when it fits.
    auto w = render::choose_window(toy_info(10, 32, 16, 32), 64, 5);
    EXPECT_EQ(w.begin, 0);
    EXPECT_EQ(w.end, 42);
    // Generated region plus the last prompt tokens.
    w = render::choose_window(toy_info(100, 48, 16, 48), 64, 5);
    EXPECT_EQ(w.begin, 148 - 64);
    EXPECT_EQ(w.end, 148);
    // Generated region larger than the window: the current block, centred.
    const render::RunInfo big = toy_info(100, 512, 32, 512);  // 16 blocks × 32 steps
    w = render::choose_window(big, 64, 5 * 32 + 3);           // block 5: positions 260 … 291
    EXPECT_EQ(w.size(), 64);
    EXPECT_LE(w.begin, 260);
    EXPECT_GE(w.end, 292);
    EXPECT_EQ(w.begin, 260 - 16);
    // A block longer than the window: around what the step commits, inside the block.
    render::RunInfo huge = toy_info(100, 512, 256, 512);
    huge.commits[300].positions = {100 + 256 + 200};
    w = render::choose_window(huge, 64, 300);
    EXPECT_TRUE(w.contains(556));
    EXPECT_GE(w.begin, 356);
    EXPECT_LE(w.end, 612);
    // Query rows: clipped to the stored rows.
    const auto q = render::query_window({84, 148}, 100, 148, 64);
    EXPECT_EQ(q.begin, 100);
    EXPECT_EQ(q.end, 148);
}

TEST(RenderWindow, CanvasWindowHoldsThePromptAndTheAnswer) {
    // The whole canvas when it fits.
    auto w = render::canvas_window(toy_info(100, 48, 16, 48), 256);
    EXPECT_EQ(w.begin, 0);
    EXPECT_EQ(w.end, 148);
    // Longer: as many prompt positions as generated ones, around the prompt | generation boundary.
    w = render::canvas_window(toy_info(100, 48, 16, 48), 64);
    EXPECT_EQ(w.begin, 100 - 32);
    EXPECT_EQ(w.end, 100 + 32);
    // A short prompt is whole, and the generated region fills the rest.
    w = render::canvas_window(toy_info(10, 512, 32, 512), 64);
    EXPECT_EQ(w.begin, 0);
    EXPECT_EQ(w.end, 64);
    // A short answer is whole, and the prompt's end fills the rest.
    w = render::canvas_window(toy_info(500, 16, 16, 16), 64);
    EXPECT_EQ(w.begin, 516 - 64);
    EXPECT_EQ(w.end, 516);
}

TEST(RenderColormap, TablesAndScales) {
    const auto& v = render::Colormap::viridis();
    EXPECT_NEAR(v.at(0).r, 0.267004, 1e-6);
    EXPECT_NEAR(v.at(1).g, 0.906157, 1e-6);
    EXPECT_NEAR(v.at(0.5).g, (0.563265 + 0.566949) / 2, 1e-6);  // halfway between entries 127 and 128
    const auto& m = render::Colormap::magma();
    EXPECT_NEAR(m.at(1).b, 0.749504, 1e-6);
    // Diverging: near-white middle, dark ends of equal lightness.
    const auto& d = render::Colormap::diverging();
    const render::Rgb mid = d.at(0.5);
    EXPECT_GT(std::min({mid.r, mid.g, mid.b}), 0.9);
    EXPECT_LT(d.at(0).r, d.at(0).b);
    EXPECT_GT(d.at(1).r, d.at(1).b);
    EXPECT_THROW(render::Colormap::by_name("jet"), Error);

    const auto lin = render::ColorScale::for_values(render::ScaleKind::linear, {0.0f, 0.25f, 0.5f, NAN});
    EXPECT_DOUBLE_EQ(lin.normalize(0.25), 0.5);
    EXPECT_TRUE(std::isnan(lin.normalize(NAN)));
    const auto log = render::ColorScale::for_values(render::ScaleKind::log, {1e-3f, 1e-2f, 1e-1f});
    EXPECT_NEAR(log.normalize(1e-2), 0.5, 1e-6);
    std::vector<std::string> labels;
    for (const auto& t : log.ticks()) labels.push_back(t.label);
    EXPECT_EQ(labels, (std::vector<std::string>{"10⁻³", "10⁻²", "10⁻¹"}));
    const std::vector<double> ticks = render::nice_ticks(0, 1, 5), want = {0, 0.2, 0.4, 0.6, 0.8, 1};
    ASSERT_EQ(ticks.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(ticks[i], want[i], 1e-12);
    EXPECT_EQ(render::nice_ticks(0, 127, 8).back(), 120);
    EXPECT_EQ(render::format_tick(0.25, 0.25), "0.25");
    EXPECT_EQ(render::format_tick(0.5, 0.1), "0.5");
}

// ============================================================================================
// 3. Figures
// ============================================================================================

struct Png {
    int width = 0, height = 0;
    size_t distinct = 0;      // distinct colours
    double non_white = 0.0;   // fraction of pixels that are not white
};

Png read_png(const fs::path& p) {
    cairo_surface_t* s = cairo_image_surface_create_from_png(p.c_str());
    Png out;
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        ADD_FAILURE() << p << ": cairo cannot read it: " << cairo_status_to_string(cairo_surface_status(s));
        cairo_surface_destroy(s);
        return out;
    }
    out.width = cairo_image_surface_get_width(s);
    out.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    std::set<uint32_t> colours;
    size_t non_white = 0;
    for (int y = 0; y < out.height; ++y) {
        const auto* px = reinterpret_cast<const uint32_t*>(data + static_cast<size_t>(y) * stride);
        for (int x = 0; x < out.width; ++x) {
            const uint32_t c = px[x] & 0xffffffu;
            if (colours.size() < 100000) colours.insert(c);
            if (c != 0xffffffu) ++non_white;
        }
    }
    out.distinct = colours.size();
    out.non_white = static_cast<double>(non_white) / std::max(1, out.width * out.height);
    cairo_surface_destroy(s);
    return out;
}

// Well-formed XML, by xmllint when installed, else by Python's parser (python3 is in setup.sh).
void expect_xml(const fs::path& p) {
    if (have_tool("xmllint")) {
        EXPECT_EQ(std::system(fmt::format("xmllint --noout '{}'", p.string()).c_str()), 0) << p << " is not well-formed XML";
    } else if (have_tool("python3")) {
        EXPECT_EQ(std::system(fmt::format("python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' '{}'",
                                          p.string())
                                  .c_str()),
                  0)
            << p << " is not well-formed XML";
    } else {
        ADD_FAILURE() << "neither xmllint nor python3 is installed: cannot check that " << p << " is well-formed XML";
    }
}

std::string xml_escaped(std::string s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else out += c;
    }
    return out;
}

// A prompt piece inside the default window of the tiny run, and its label.
std::string some_label(const analysis::RunReader& r) {
    const json& tokens = r.manifest()["tokens"];
    return render::display_piece(tokens[r.prompt_length() - 3].get<std::string>());  // "an" / "t" … of "assistant"
}

struct Case {
    Kind kind;
    Format format;
};

// "decode-order svg": what gtest prints next to each test's name (raw bytes without PrintTo), and,
// with '_' for ' ' and '-', the test's name.
std::string describe(const Case& c) { return std::string(render::kind_name(c.kind)) + ' ' + render::extension(c.format); }
void PrintTo(const Case& c, std::ostream* os) { *os << describe(c); }

class RenderKinds : public ::testing::TestWithParam<Case> {};

TEST_P(RenderKinds, DrawsFromARealRunAndReadsBack) {
    const Case c = GetParam();
    const analysis::RunReader& r = run_all();
    render::RenderOptions opt;
    opt.format = c.format;
    opt.dpi = 100;
    render::FigureRequest req;
    req.kind = c.kind;
    req.step = 5;
    req.layer = 1;
    req.head = c.kind == Kind::heatmap ? 2 : -1;
    const fs::path dir = work_dir() / fmt::format("kinds-{}-{}", render::kind_name(c.kind), render::extension(c.format));
    const std::string path = render::render_one(r, opt, req, dir.string() + "/");
    ASSERT_TRUE(fs::is_regular_file(path)) << path;
    EXPECT_EQ(fs::path(path).extension(), std::string(".") + render::extension(c.format));
    EXPECT_FALSE(fs::exists(path + ".tmp"));
    const std::string bytes = read_file(path);
    switch (c.format) {
        case Format::png: {
            const Png png = read_png(path);
            EXPECT_GT(png.width, 500);
            EXPECT_GT(png.height, 300);
            EXPECT_LT(png.width, 8000);
            EXPECT_GT(png.distinct, 40u) << "a heatmap or plot has many colours";
            EXPECT_GT(png.non_white, 0.05) << "the figure is nearly blank";
            break;
        }
        case Format::svg: {
            expect_xml(path);
            EXPECT_NE(bytes.find("<title>"), std::string::npos);
            // The title names what is drawn; token labels are searchable text.
            if (c.kind == Kind::heatmap) {
                EXPECT_NE(bytes.find("<title>Attention at step 5 · layer 1 · head 2</title>"), std::string::npos);
                EXPECT_NE(bytes.find(">" + xml_escaped(some_label(r)) + "</text>"), std::string::npos) << some_label(r);
                EXPECT_NE(bytes.find(">&lt;|eot_id|&gt;</text>"), std::string::npos);
                EXPECT_NE(bytes.find(">▒</text>"), std::string::npos);
                EXPECT_NE(bytes.find(">↵</text>"), std::string::npos);
            }
            if (c.kind == Kind::grid) {
                EXPECT_NE(bytes.find("<title>Attention at step 5 · 2 layers · all heads</title>"), std::string::npos);
            }
            if (c.kind == Kind::evolution) {
                EXPECT_NE(bytes.find(">Mass on masked keys</text>"), std::string::npos);
            }
            if (c.kind == Kind::decode_order) {
                EXPECT_NE(bytes.find("<title>Decode order"), std::string::npos);
            } else {
                EXPECT_NE(bytes.find("image-rendering"), std::string::npos) << "heatmap cells must not be smoothed";
            }
            break;
        }
        case Format::pdf: {
            ASSERT_GT(bytes.size(), 1000u);
            EXPECT_EQ(bytes.substr(0, 5), "%PDF-");
            EXPECT_NE(bytes.rfind("%%EOF"), std::string::npos);
            EXPECT_GT(bytes.rfind("%%EOF"), bytes.size() - 16);
            if (have_tool("pdfinfo")) {
                EXPECT_EQ(std::system(fmt::format("pdfinfo '{}' > /dev/null", path).c_str()), 0) << "pdfinfo rejects " << path;
            }
            if (have_tool("pdftotext") && c.kind == Kind::heatmap) {
                const fs::path txt = fs::path(path).replace_extension(".txt");
                ASSERT_EQ(std::system(fmt::format("pdftotext '{}' '{}'", path, txt.string()).c_str()), 0);
                const std::string text = read_file(txt);
                EXPECT_NE(text.find("Attention at step 5"), std::string::npos) << text.substr(0, 300);
                EXPECT_NE(text.find("<|eot_id|>"), std::string::npos);
            }
            break;
        }
    }
}

std::vector<Case> all_cases() {
    std::vector<Case> out;
    for (Kind k : {Kind::heatmap, Kind::grid, Kind::evolution, Kind::decode_order})
        for (Format f : {Format::png, Format::svg, Format::pdf}) out.push_back({k, f});
    return out;
}

INSTANTIATE_TEST_SUITE_P(AllKindsAllFormats, RenderKinds, ::testing::ValuesIn(all_cases()), [](const auto& p) {
    std::string name = describe(p.param);
    std::replace_if(name.begin(), name.end(), [](char ch) { return ch == ' ' || ch == '-'; }, '_');
    return name;
});

TEST(RenderFigures, HeadMeanRunHeatmapAndGrid) {
    const analysis::RunReader& r = run_mean();
    render::RenderOptions opt;
    opt.dpi = 72;
    const fs::path dir = work_dir() / "mean";
    const std::string h = render::render_one(r, opt, {Kind::heatmap, -1, -1, -1}, dir.string() + "/");
    EXPECT_EQ(fs::path(h).filename(), "heatmap_step015_layer01_mean.png");
    const Png png = read_png(h);
    EXPECT_GT(png.distinct, 40u);
    const std::string g = render::render_one(r, opt, {Kind::grid, 0, -1, -1}, (dir / "grid.png").string());
    EXPECT_EQ(g, (dir / "grid.png").string());
    EXPECT_GT(read_png(g).non_white, 0.05);
    // Head 2 is not stored by a head-mean capture.
    try {
        render::render_one(r, opt, {Kind::heatmap, -1, -1, 2}, dir.string() + "/");
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--capture-heads all"), std::string::npos) << e.what();
    }
    EXPECT_THROW(render::render_one(r, opt, {Kind::heatmap, 99, -1, -1}, dir.string() + "/"), Error);
    EXPECT_THROW(render::render_one(r, opt, {Kind::heatmap, -1, 7, -1}, dir.string() + "/"), Error);
}

TEST(RenderFigures, DpiScalesThePng) {
    const analysis::RunReader& r = run_mean();
    render::RenderOptions a, b;
    a.dpi = 72;
    b.dpi = 144;
    const fs::path dir = work_dir() / "dpi";
    const Png p72 = read_png(render::render_one(r, a, {Kind::decode_order}, (dir / "a.png").string()));
    const Png p144 = read_png(render::render_one(r, b, {Kind::decode_order}, (dir / "b.png").string()));
    EXPECT_NEAR(p144.width, 2 * p72.width, 2);
    EXPECT_NEAR(p144.height, 2 * p72.height, 2);
}

TEST(RenderFigures, LogScaleAndMagma) {
    const analysis::RunReader& r = run_mean();
    render::RenderOptions opt;
    opt.dpi = 72;
    opt.scale = render::ScaleKind::log;
    opt.colormap = "magma";
    opt.format = Format::svg;
    const std::string p = render::render_one(r, opt, {Kind::heatmap, 3, 0, -1}, (work_dir() / "log.svg").string());
    const std::string svg = read_file(p);
    expect_xml(p);
    EXPECT_NE(svg.find(">attention probability (log)</text>"), std::string::npos);
    EXPECT_NE(svg.find("10⁻"), std::string::npos) << "log ticks are labelled as powers of ten";
}

TEST(RenderFigures, DefaultSet) {
    const analysis::RunReader& r = run_mean();
    render::RenderOptions opt;
    opt.dpi = 72;
    const fs::path dir = work_dir() / "default-set";
    const auto files = render::render_default_set(r, opt, dir.string());
    // 2 blocks → steps 0, 7, 8, 15 as heatmap + grid, then evolution and decode order.
    std::vector<std::string> names;
    for (const auto& f : files) {
        EXPECT_TRUE(fs::is_regular_file(f)) << f;
        names.push_back(fs::path(f).filename().string());
    }
    EXPECT_EQ(names, (std::vector<std::string>{
                         "heatmap_step000_layer01_mean.png", "grid_step000.png", "heatmap_step007_layer01_mean.png",
                         "grid_step007.png", "heatmap_step008_layer01_mean.png", "grid_step008.png",
                         "heatmap_step015_layer01_mean.png", "grid_step015.png", "heatmap_step015_layer01_mean_canvas.png",
                         "evolution_layer01_mean.png", "decode_order.png"}));
    for (const auto& f : files) EXPECT_GT(read_png(f).distinct, 20u) << f;
}

// The step heatmaps show a window of 64 positions around the generated region, which leaves out
// the start of the tiny run's 39-token prompt; the set's prompt-and-answer heatmap holds the whole
// canvas, every position labelled.
TEST(RenderFigures, DefaultSetShowsThePromptAndTheAnswer) {
    const analysis::RunReader& r = run_mean();
    const int P = r.prompt_length(), L = r.canvas_length();
    ASSERT_GT(L, 64) << "the step windows must leave part of the canvas out for this test to mean something";
    render::RenderOptions opt;
    opt.format = Format::svg;
    const fs::path dir = work_dir() / "default-set-svg";
    std::string canvas_path;
    for (const auto& f : render::render_default_set(r, opt, dir.string()))
        if (fs::path(f).filename() == "heatmap_step015_layer01_mean_canvas.svg") canvas_path = f;
    ASSERT_FALSE(canvas_path.empty()) << "the default set has no prompt-and-answer heatmap";
    expect_xml(canvas_path);
    const std::string svg = read_file(canvas_path);
    EXPECT_NE(svg.find("<title>Attention at step 15 · layer 1 · head mean · prompt and answer</title>"), std::string::npos);
    EXPECT_NE(svg.find(fmt::format("queries 0–{} × keys 0–{} of canvas 0–{} (prompt 0–{})", L - 1, L - 1, L - 1, P - 1)),
              std::string::npos);
    // Every prompt token and the last position are labelled (no label thinned away).
    const render::RunInfo info = render::read_run_info(r);
    const analysis::StepCapture s = r.load_step(r.steps().size() - 1);
    ASSERT_EQ(s.step, 15);
    std::vector<int> positions;
    for (int p = 0; p < P; ++p) positions.push_back(p);
    positions.push_back(L - 1);
    for (int p : positions) {
        const std::string label = render::label_at(info, s.canvas, p, s.step).text;
        EXPECT_NE(svg.find(">" + xml_escaped(label) + "</text>"), std::string::npos) << "position " << p << ": " << label;
    }
    // A step heatmap of the same set starts after the prompt's start.
    const std::string step_svg = read_file(dir / "heatmap_step015_layer01_mean.svg");
    EXPECT_NE(step_svg.find(fmt::format("keys {}–{} of canvas", L - 64, L - 1)), std::string::npos);
}

TEST(RenderFigures, StatisticsOnlyRun) {
    const analysis::RunReader& r = run_none();
    render::RenderOptions opt;
    opt.dpi = 72;
    std::vector<std::string> warnings;
    opt.warn = [&](const std::string& m) { warnings.push_back(m); };
    const fs::path dir = work_dir() / "none";
    try {
        render::render_one(r, opt, {Kind::heatmap}, dir.string() + "/");
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--capture-heads none"), std::string::npos) << e.what();
    }
    EXPECT_THROW(render::render_one(r, opt, {Kind::grid}, dir.string() + "/"), Error);
    const auto evo = render::render_one(r, opt, {Kind::evolution}, dir.string() + "/");
    EXPECT_GT(read_png(evo).distinct, 20u);
    const auto files = render::render_default_set(r, opt, (dir / "set").string());
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(fs::path(files[0]).filename(), "evolution_layer01_mean.png");
    EXPECT_EQ(fs::path(files[1]).filename(), "decode_order.png");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("no attention maps"), std::string::npos);
}

TEST(RenderFigures, StoredRowsAndHeadLists) {
    const analysis::RunReader& r = run("rows", "--capture-heads 0,2 --capture-rows generated");
    render::RenderOptions opt;
    opt.dpi = 72;
    opt.format = Format::svg;
    const fs::path dir = work_dir() / "rows";
    const std::string h = render::render_one(r, opt, {Kind::heatmap, 4, 0, -1}, (dir / "h.svg").string());
    const std::string svg = read_file(h);
    EXPECT_NE(svg.find("<title>Attention at step 4 · layer 0 · mean of stored heads 0,2</title>"), std::string::npos);
    EXPECT_NE(svg.find("queries 39–70"), std::string::npos) << "query rows are the stored (generated) rows";
    const std::string g = render::render_one(r, opt, {Kind::grid, 4, -1, -1}, (dir / "g.svg").string());
    EXPECT_NE(read_file(g).find(">head 2</text>"), std::string::npos);
    EXPECT_THROW(render::render_one(r, opt, {Kind::heatmap, 4, 0, 1}, (dir / "x.svg").string()), Error);
}

TEST(RenderCli, PlotWritesTheFileItNames) {
    const analysis::RunReader& r = run_mean();
    const fs::path dir = work_dir() / "cli";
    const std::string bin = std::string(DLMSCOPE_BINARY_DIR) + "/dlmscope";
    const fs::path out = dir / "fig.svg";
    ASSERT_EQ(std::system(fmt::format("'{}' plot -i '{}' --kind heatmap --step 3 -o '{}' > '{}/out.txt' 2>&1", bin, r.root(),
                                      out.string(), work_dir().string())
                              .c_str()),
              0)
        << read_file(work_dir() / "out.txt");
    EXPECT_NE(read_file(out).find("<title>Attention at step 3 · layer 1 · head mean</title>"), std::string::npos);
    EXPECT_NE(read_file(work_dir() / "out.txt").find(out.string()), std::string::npos) << "the path is printed";
    // --format and the extension must agree; an unknown extension is refused.
    EXPECT_NE(std::system(fmt::format("'{}' plot -i '{}' -f pdf -o '{}/x.png' > /dev/null 2>&1", bin, r.root(), dir.string()).c_str()), 0);
    EXPECT_NE(std::system(fmt::format("'{}' plot -i '{}' -o '{}/x.jpg' > /dev/null 2>&1", bin, r.root(), dir.string()).c_str()), 0);
    // --kind all: the default set into a directory.
    ASSERT_EQ(std::system(fmt::format("'{}' plot -i '{}' --kind all --dpi 50 -o '{}/all' > /dev/null 2>&1", bin, r.root(), dir.string()).c_str()), 0);
    EXPECT_TRUE(fs::is_regular_file(dir / "all" / "decode_order.png"));
    EXPECT_TRUE(fs::is_regular_file(dir / "all" / "heatmap_step015_layer01_mean_canvas.png"));
    // --window canvas: the prompt and the answer.
    ASSERT_EQ(std::system(fmt::format("'{}' plot -i '{}' --kind heatmap --window canvas -f svg -o '{}/canvas/' > /dev/null 2>&1", bin,
                                      r.root(), dir.string())
                              .c_str()),
              0);
    const std::string canvas = read_file(dir / "canvas" / "heatmap_step015_layer01_mean_canvas.svg");
    EXPECT_NE(canvas.find(fmt::format("keys 0–{} of canvas", r.canvas_length() - 1)), std::string::npos);
    EXPECT_NE(std::system(fmt::format("'{}' plot -i '{}' --window all -o '{}/' > /dev/null 2>&1", bin, r.root(), dir.string()).c_str()), 0);
}

TEST(RenderParse, NamesAndErrors) {
    EXPECT_EQ(render::parse_format("svg"), Format::svg);
    EXPECT_EQ(render::parse_kind("decode-order"), Kind::decode_order);
    EXPECT_EQ(render::parse_kind("drift"), Kind::drift);
    EXPECT_EQ(render::parse_scale("log"), render::ScaleKind::log);
    EXPECT_EQ(render::parse_window("canvas"), render::MapWindow::canvas);
    EXPECT_THROW(render::parse_window("prompt"), Error);
    EXPECT_THROW(render::parse_format("jpg"), Error);
    EXPECT_THROW(render::parse_kind("bar"), Error);
    render::RenderOptions bad;
    bad.max_tokens = 1;
    EXPECT_THROW(render::render_one(run_mean(), bad, {Kind::heatmap}, (work_dir() / "bad/").string()), Error);
}

// ============================================================================================
// 4. Cached runs
// ============================================================================================

// A dual-cache run with threshold decoding and a cache audit: blocks take as many steps as the
// threshold lets them; every step after a block's first recomputes the block's rows only.
const analysis::RunReader& run_cached() { return run("cached", "--cache dual --parallel-threshold 0.25 --cache-audit"); }

// A copy of the head-mean run whose records say that its 2 blocks took 5 and 11 steps (as a
// threshold schedule would): steps_per_block null, block_steps [5, 11], every record and arrays
// entry re-assigned. The canvases are the plain run's; only the schedule differs.
const analysis::RunReader& run_varied() {
    static std::unique_ptr<analysis::RunReader> r;
    if (r) return *r;
    const analysis::RunReader& src = run_mean();
    const fs::path dir = work_dir() / "run-varied";
    fs::remove_all(dir);
    fs::copy(src.root(), dir, fs::copy_options::recursive);
    const fs::path manifest = dir / fs::path(src.manifest_path()).filename();
    json m = read_json_file(manifest.string());
    auto assign = [](json& e) {
        const int step = e["step"].get<int>();
        e["block"] = step < 5 ? 0 : 1;
        e["step_in_block"] = step < 5 ? step : step - 5;
    };
    for (json& e : m["steps"]) assign(e);
    for (json& e : m["arrays"])
        if (e.contains("step")) assign(e);
    m["steps_per_block"] = nullptr;
    m["block_steps"] = {5, 11};
    write_json_file(manifest.string(), m);
    r = std::make_unique<analysis::RunReader>(analysis::RunReader::open(dir.string()));
    return *r;
}

// The first step whose record says `kind` (-1 if none).
int first_step_of_kind(const analysis::RunReader& r, const std::string& kind) {
    for (const analysis::StepRecordInfo& s : r.schedule())
        if (s.kind == kind) return s.step;
    return -1;
}

TEST(RenderSchedule, BlockBoundariesComeFromTheRecords) {
    const analysis::RunReader& r = run_varied();
    ASSERT_EQ(r.steps_per_block(), 0) << "the schedule varies";
    const render::RunInfo info = render::read_run_info(r);
    EXPECT_EQ(info.block_start, (std::vector<int>{0, 5}));
    EXPECT_EQ(info.block_steps, (std::vector<int>{5, 11}));
    EXPECT_TRUE(info.schedule_varies());
    EXPECT_EQ(info.block_of_step(4), 0);
    EXPECT_EQ(info.block_of_step(5), 1);
    EXPECT_EQ(info.block_steps_text(), "steps per block 5, 11");
    EXPECT_EQ(info.block_text(1), "block 1 of blocks 0–1 (its steps: 5–15)");
    // A fixed schedule reads as before.
    const render::RunInfo plain = render::read_run_info(run_mean());
    EXPECT_EQ(plain.block_start, (std::vector<int>{0, 8}));
    EXPECT_EQ(plain.block_steps_text(), "8 steps each");
    EXPECT_EQ(plain.block_text(0), "block 0 of blocks 0–1 (its steps: 0–7)");

    render::RenderOptions opt;
    opt.dpi = 72;
    opt.format = Format::svg;
    const fs::path dir = work_dir() / "varied";
    const std::string h = read_file(render::render_one(r, opt, {Kind::heatmap, 5, -1, -1}, (dir / "h.svg").string()));
    EXPECT_NE(h.find("block 1 of blocks 0–1 (its steps: 5–15)"), std::string::npos);
    EXPECT_EQ(h.find("its steps: 0–0"), std::string::npos);
    EXPECT_EQ(h.find("forward"), std::string::npos) << "a run without a cache says nothing of forwards";
    const std::string g = read_file(render::render_one(r, opt, {Kind::grid, 4, -1, -1}, (dir / "g.svg").string()));
    EXPECT_NE(g.find("block 0 of blocks 0–1 (its steps: 0–4)"), std::string::npos);
    const std::string d = read_file(render::render_one(r, opt, {Kind::decode_order}, (dir / "d.svg").string()));
    EXPECT_NE(d.find("2 blocks of 16 positions, steps per block 5, 11"), std::string::npos);
    EXPECT_EQ(d.find("0 steps each"), std::string::npos);
    const std::string e = read_file(render::render_one(r, opt, {Kind::evolution}, (dir / "e.svg").string()));
    EXPECT_NE(e.find("(2 blocks, steps per block 5, 11)"), std::string::npos);
    // The default set takes each block's first and last step from the records: 0, 4 | 5, 15.
    opt.format = Format::png;
    std::vector<std::string> names;
    for (const auto& f : render::render_default_set(r, opt, (dir / "set").string()))
        if (fs::path(f).filename().string().rfind("heatmap_", 0) == 0) names.push_back(fs::path(f).filename().string());
    EXPECT_EQ(names, (std::vector<std::string>{"heatmap_step000_layer01_mean.png", "heatmap_step004_layer01_mean.png",
                                               "heatmap_step005_layer01_mean.png", "heatmap_step015_layer01_mean.png",
                                               "heatmap_step015_layer01_mean_canvas.png"}));
}

TEST(RenderSchedule, DecodeOrderOfAThresholdRunListsItsBlocks) {
    const analysis::RunReader& r = run_cached();
    const render::RunInfo info = render::read_run_info(r);
    const json& bs = r.manifest()["block_steps"];
    ASSERT_EQ(bs.size(), 2u);
    EXPECT_EQ(info.block_steps, bs.get<std::vector<int>>());
    render::RenderOptions opt;
    opt.format = Format::svg;
    const std::string d = read_file(render::render_one(r, opt, {Kind::decode_order}, (work_dir() / "cached-do.svg").string()));
    const std::string want = bs[0] == bs[1] ? fmt::format("{} steps each", bs[0].get<int>())
                                            : fmt::format("steps per block {}, {}", bs[0].get<int>(), bs[1].get<int>());
    EXPECT_NE(d.find("2 blocks of 16 positions, " + want), std::string::npos) << want;
}

TEST(RenderCache, HeatmapOfACachedStepMarksWhatCameFromTheCache) {
    const analysis::RunReader& r = run_cached();
    const int step = first_step_of_kind(r, "dual");
    ASSERT_GE(step, 0) << "the dual-cache run has no dual step";
    const analysis::StepRecordInfo& rec = r.schedule()[step];
    render::RenderOptions opt;
    opt.dpi = 72;
    opt.format = Format::svg;
    const fs::path dir = work_dir() / "cached";
    const std::string path = render::render_one(r, opt, {Kind::heatmap, step, -1, -1}, (dir / "h.svg").string());
    expect_xml(path);
    const std::string svg = read_file(path);
    EXPECT_NE(svg.find(fmt::format("dual forward: rows {}–{} recomputed", rec.row_begin, rec.row_end - 1)), std::string::npos);
    EXPECT_NE(svg.find("keys from the cache (age"), std::string::npos);
    EXPECT_NE(svg.find(">not recomputed at this step (cached)</text>"), std::string::npos) << "the legend names the hatch";
    const int window_begin = std::max(0, r.canvas_length() - 64);  // the generated region and the last prompt tokens
    ASSERT_GT(rec.row_begin, window_begin);
    EXPECT_NE(svg.find(fmt::format(">rows {}–{} not recomputed at this step (cached)</text>", window_begin, rec.row_begin - 1)),
              std::string::npos)
        << "the band above the recomputed rows says so in words";
    EXPECT_NE(svg.find("key cache age (steps"), std::string::npos) << "the colour key of the age strip";
    // The layer grid marks the same.
    const std::string g = read_file(render::render_one(r, opt, {Kind::grid, step, -1, -1}, (dir / "g.svg").string()));
    EXPECT_NE(g.find(">not recomputed at this step (cached)</text>"), std::string::npos);
    EXPECT_NE(g.find("dual forward: rows"), std::string::npos);
    // A full forward of the same run: nothing hatched, no age strip, the subtitle says so.
    const std::string f = read_file(render::render_one(r, opt, {Kind::heatmap, 0, -1, -1}, (dir / "f.svg").string()));
    EXPECT_NE(f.find("full forward: every row and key recomputed"), std::string::npos);
    EXPECT_EQ(f.find("not recomputed"), std::string::npos);
    EXPECT_EQ(f.find("cache age"), std::string::npos);
    // The default set's prompt-and-answer heatmap is of the last full forward: every row has attention.
    int last_full = -1;
    for (const analysis::StepRecordInfo& s : r.schedule())
        if (s.kind == "full") last_full = s.step;
    ASSERT_GT(last_full, 0);
    std::string canvas;
    for (const auto& file : render::render_default_set(r, opt, (dir / "set").string()))
        if (file.find("_canvas.svg") != std::string::npos) canvas = file;
    EXPECT_EQ(fs::path(canvas).filename(), fmt::format("heatmap_step{:03d}_layer01_mean_canvas.svg", last_full));
    const std::string c = read_file(canvas);
    EXPECT_NE(c.find("full forward: every row and key recomputed"), std::string::npos);
    EXPECT_EQ(c.find("not recomputed at this step"), std::string::npos);
    // PNG: the hatch's light grey fills rows not recomputed.
    opt.format = Format::png;
    const Png png = read_png(render::render_one(r, opt, {Kind::heatmap, step, -1, -1}, (dir / "h.png").string()));
    EXPECT_GT(png.distinct, 40u);
}

TEST(RenderDrift, DrawsAnAuditedRunAndRefusesOthers) {
    const analysis::RunReader& r = run_cached();
    ASSERT_TRUE(r.has_cache_drift());
    render::RenderOptions opt;
    opt.dpi = 72;
    const fs::path dir = work_dir() / "drift";
    const std::string png = render::render_one(r, opt, {Kind::drift}, dir.string() + "/");
    EXPECT_EQ(fs::path(png).filename(), "cache_drift.png");
    EXPECT_GT(read_png(png).distinct, 20u);
    opt.format = Format::svg;
    const std::string path = render::render_one(r, opt, {Kind::drift}, (dir / "d.svg").string());
    expect_xml(path);
    const std::string svg = read_file(path);
    EXPECT_NE(svg.find("<title>Cache drift over "), std::string::npos);
    EXPECT_NE(svg.find(">Jensen–Shannon divergence, cached vs exact</text>"), std::string::npos);
    EXPECT_NE(svg.find(">Logits: argmax agreement with the exact forward</text>"), std::string::npos);
    EXPECT_NE(svg.find(">layer 1</text>"), std::string::npos) << "2 layers: a line each";
    // The default set draws it for an audited run only (run_mean's set is checked in DefaultSet).
    opt.format = Format::png;
    const auto files = render::render_default_set(r, opt, (dir / "set").string());
    ASSERT_FALSE(files.empty());
    EXPECT_EQ(fs::path(files.back()).filename(), "cache_drift.png");
    // A run without an audit: an error naming the run and the option.
    try {
        render::render_one(run_mean(), opt, {Kind::drift}, dir.string() + "/");
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(run_mean().manifest_path()), std::string::npos) << what;
        EXPECT_NE(what.find("--cache-audit"), std::string::npos) << what;
    }
    // The CLI says the same.
    const std::string bin = std::string(DLMSCOPE_BINARY_DIR) + "/dlmscope";
    const fs::path out = work_dir() / "drift-cli.txt";
    EXPECT_NE(std::system(fmt::format("'{}' plot -i '{}' -k drift -o '{}/' > '{}' 2>&1", bin, run_mean().root(), dir.string(),
                                      out.string())
                              .c_str()),
              0);
    EXPECT_NE(read_file(out).find("--cache-audit"), std::string::npos) << read_file(out);
}

TEST(RenderDrift, ManyLayersAreAMeanWithARange) {
    // The audited run's drift, spread over 12 layers (as if the model had them): more than 8 layers
    // are drawn as their mean with the min–max band instead of one line each.
    const analysis::RunReader& src = run_cached();
    const fs::path dir = work_dir() / "run-drift12";
    fs::remove_all(dir);
    fs::copy(src.root(), dir, fs::copy_options::recursive);
    const fs::path manifest = dir / fs::path(src.manifest_path()).filename();
    json m = read_json_file(manifest.string());
    m["model"]["config"]["n_layers"] = 12;
    std::string drift_file;
    for (const json& e : m["arrays"])
        if (e.value("kind", "") == "cache_drift") drift_file = (dir / e["file"].get<std::string>()).string();
    ASSERT_FALSE(drift_file.empty());
    const NpyArray a = read_npy(drift_file);
    const std::vector<float> v = a.as_f32();
    const int64_t n = a.shape[0], L = a.shape[1], H = a.shape[2];
    std::vector<float> wide(static_cast<size_t>(n * 12 * H * 3));
    for (int64_t k = 0; k < n; ++k)
        for (int64_t l = 0; l < 12; ++l)
            for (int64_t i = 0; i < H * 3; ++i)
                wide[static_cast<size_t>((k * 12 + l) * H * 3 + i)] = v[static_cast<size_t>((k * L + l % L) * H * 3 + i)] * (1 + 0.1f * l);
    write_npy(drift_file, {n, 12, H, 3}, wide);
    for (json& e : m["arrays"])
        if (e.value("kind", "") == "cache_drift") e["shape"] = {n, 12, H, 3};
    write_json_file(manifest.string(), m);
    const analysis::RunReader r = analysis::RunReader::open(dir.string());
    render::RenderOptions opt;
    opt.format = Format::svg;
    const std::string svg = read_file(render::render_one(r, opt, {Kind::drift}, (work_dir() / "drift12.svg").string()));
    EXPECT_NE(svg.find(">mean over the 12 layers</text>"), std::string::npos);
    EXPECT_NE(svg.find(">min … max over layers</text>"), std::string::npos);
    EXPECT_EQ(svg.find(">layer 11</text>"), std::string::npos);
}

}  // namespace
}  // namespace dlmscope
