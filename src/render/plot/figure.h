// dlmscope render: a figure — one cairo surface whatever the format, text through pango.
//
// Every drawing call works in points (1/72 inch) from the top-left corner:
//   png  an ARGB image surface of ceil(size · dpi/72) pixels, scaled by dpi/72
//   svg  cairo's SVG surface (units: pt), post-processed: <title>/<desc> name the figure and its
//        labels, and an invisible text layer repeats every label at its place, so the text can be
//        searched, selected and read by a screen reader (cairo draws glyphs as outlines)
//   pdf  cairo's PDF surface (text stays text; the title goes in the document metadata)
// save() writes the file atomically (temp file + rename). Only src/render/plot/ includes this.
#pragma once

#include "render/plot/colormap.h"
#include "render/render.h"

#include <cairo.h>
#include <pango/pangocairo.h>

#include <string>
#include <vector>

namespace dlmscope::render {

struct TextStyle {
    double size = 8.0;    // pt
    bool bold = false;
    bool italic = false;
    bool mono = false;    // DejaVu Sans Mono instead of DejaVu Sans
    Rgb color{0.13, 0.13, 0.13};
    double angle = 0.0;   // degrees, counter-clockwise (90 = reads bottom to top)
    double ax = 0.0;      // anchor in the text box before rotation: 0 left, 0.5 centre, 1 right
    double ay = 0.0;      //                                         0 top,  0.5 middle, 1 bottom
};

struct Rect {
    double x = 0, y = 0, w = 0, h = 0;
    double right() const { return x + w; }
    double bottom() const { return y + h; }
};

struct TextSize {
    double w = 0, h = 0;
};

class Figure {
public:
    // A blank white figure of w × h points in opt.format at opt.dpi.
    Figure(double w, double h, const RenderOptions& opt);
    ~Figure();
    Figure(const Figure&) = delete;
    Figure& operator=(const Figure&) = delete;

    cairo_t* cr() const { return cr_; }
    double width() const { return w_; }
    double height() const { return h_; }
    Format format() const { return format_; }

    // Draws `s` anchored at (x, y) (see TextStyle::ax/ay/angle).
    void text(double x, double y, const std::string& s, const TextStyle& st);
    // The size of `s` in `st` before rotation (same numbers for every format: metrics unhinted).
    static TextSize measure(const std::string& s, const TextStyle& st);

    void fill_rect(const Rect& r, Rgb c, double alpha = 1.0);
    void stroke_rect(const Rect& r, Rgb c, double width);
    void line(double x0, double y0, double x1, double y1, Rgb c, double width, double dash = 0.0);

    // The figure's title and a description (for SVG <title>/<desc> and PDF metadata).
    void set_meta(const std::string& title, const std::string& description);
    // Finishes the surface and writes `path` atomically. Throws Error naming the path.
    void save(const std::string& path);

private:
    struct TextItem {
        std::string text;
        double m[6];  // user → device matrix at the layout's origin (xx, yx, xy, yy, x0, y0)
        double x, baseline, size;  // in the text's own frame
        bool bold, italic, mono;
    };

    Format format_;
    double w_, h_;
    double dpi_ = 72.0;  // png: the resolution actually used
    cairo_surface_t* surface_ = nullptr;
    cairo_t* cr_ = nullptr;
    PangoLayout* layout_ = nullptr;
    std::string stream_;  // svg / pdf bytes as cairo writes them
    std::vector<TextItem> items_;  // svg only
    std::string title_, desc_;
};

// Colours shared by every figure.
namespace palette {
inline constexpr Rgb kText{0.13, 0.13, 0.13};
inline constexpr Rgb kMuted{0.42, 0.42, 0.42};
inline constexpr Rgb kFrame{0.25, 0.25, 0.25};
inline constexpr Rgb kGridLine{0.88, 0.88, 0.88};
inline constexpr Rgb kSpecial{0.55, 0.18, 0.62};     // special tokens (purple, italic)
inline constexpr Rgb kMasked{0.50, 0.50, 0.50};      // "▒"
inline constexpr Rgb kCommitNow{0.80, 0.20, 0.05};   // "▒→piece": committed by this step
inline constexpr Rgb kPromptBoundary{1.0, 0.25, 0.25};
inline constexpr Rgb kBlockBoundary{1.0, 1.0, 1.0};
inline constexpr Rgb kClassPrompt{0.55, 0.63, 0.80};     // axis strip: prompt
inline constexpr Rgb kClassGenerated{0.45, 0.72, 0.45};  // committed generated
inline constexpr Rgb kClassMasked{0.82, 0.82, 0.82};     // still masked
inline constexpr Rgb kHatchFill{0.90, 0.90, 0.90};       // rows a cached step did not recompute
inline constexpr Rgb kHatchLine{0.55, 0.55, 0.55};
inline constexpr Rgb kKeyFresh{0.96, 0.96, 0.96};        // key strip: computed by this step's forward
}  // namespace palette

// The title line (13 pt bold) and subtitle lines (8 pt, muted) every figure starts with.
inline TextStyle title_style() {
    TextStyle t;
    t.size = 13;
    t.bold = true;
    return t;
}
inline TextStyle subtitle_style() {
    TextStyle t;
    t.size = 8;
    t.color = palette::kMuted;
    return t;
}

}  // namespace dlmscope::render
