#include "render/plot/figure.h"

#include "core/error.h"
#include "core/file.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <numbers>
#include <tuple>
#include <vector>

namespace dlmscope::render {

namespace {

constexpr const char* kSans = "DejaVu Sans,Sans";
constexpr const char* kMono = "DejaVu Sans Mono,Monospace";
constexpr double kMaxPixels = 30000.0;  // cairo image surfaces stop at 32767 pixels a side

// Font options shared by measuring and drawing: unhinted metrics, so text measures the same on
// every surface and the layout computed before the surface exists holds.
cairo_font_options_t* font_options() {
    static cairo_font_options_t* o = [] {
        cairo_font_options_t* f = cairo_font_options_create();
        cairo_font_options_set_hint_metrics(f, CAIRO_HINT_METRICS_OFF);
        cairo_font_options_set_hint_style(f, CAIRO_HINT_STYLE_SLIGHT);
        cairo_font_options_set_antialias(f, CAIRO_ANTIALIAS_GRAY);
        return f;
    }();
    return o;
}

void configure(PangoLayout* layout) {
    PangoContext* ctx = pango_layout_get_context(layout);
    pango_cairo_context_set_resolution(ctx, 72.0);  // 1 pt = 1 user unit
    pango_cairo_context_set_font_options(ctx, font_options());
    pango_layout_context_changed(layout);
}

// Font descriptions, built once per thread and style.
const PangoFontDescription* font_of(const TextStyle& st) {
    using Key = std::tuple<long, bool, bool, bool>;
    struct Cache {
        std::map<Key, PangoFontDescription*> fonts;
        ~Cache() {
            for (auto& [k, f] : fonts) pango_font_description_free(f);
        }
    };
    thread_local Cache cache;
    const Key key{std::lround(st.size * 100), st.bold, st.italic, st.mono};
    auto it = cache.fonts.find(key);
    if (it != cache.fonts.end()) return it->second;
    PangoFontDescription* f = pango_font_description_from_string(st.mono ? kMono : kSans);
    pango_font_description_set_absolute_size(f, st.size * PANGO_SCALE);
    pango_font_description_set_weight(f, st.bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_font_description_set_style(f, st.italic ? PANGO_STYLE_ITALIC : PANGO_STYLE_NORMAL);
    return cache.fonts.emplace(key, f).first->second;
}

// A layout on a 1×1 surface for measuring text before a figure exists (one per thread).
PangoLayout* measuring_layout() {
    struct Measurer {
        cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
        cairo_t* cr = cairo_create(s);
        PangoLayout* layout = pango_cairo_create_layout(cr);
        Measurer() { configure(layout); }
        ~Measurer() {
            g_object_unref(layout);
            cairo_destroy(cr);
            cairo_surface_destroy(s);
        }
    };
    thread_local Measurer m;
    return m.layout;
}

TextSize set_text(PangoLayout* layout, const std::string& s, const TextStyle& st) {
    pango_layout_set_font_description(layout, font_of(st));
    pango_layout_set_text(layout, s.data(), static_cast<int>(s.size()));
    PangoRectangle logical;
    pango_layout_get_extents(layout, nullptr, &logical);
    return {static_cast<double>(logical.width) / PANGO_SCALE, static_cast<double>(logical.height) / PANGO_SCALE};
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

// Text for XML character data and attribute values; control characters dropped.
std::string xml_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out += c;
        }
    }
    return out;
}

std::string num(double v) { return fmt::format("{:.3f}", v); }

void put_u32(std::string& out, uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
    out.append(b, 4);
}

void put_chunk(std::string& out, const char* type, const std::string& data) {
    put_u32(out, static_cast<uint32_t>(data.size()));
    const size_t at = out.size();
    out.append(type, 4);
    out += data;
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(out.data() + at), static_cast<uInt>(out.size() - at));
    put_u32(out, static_cast<uint32_t>(crc));
}

// An RGB24 image surface as an 8-bit RGB PNG. cairo's own writer goes through libpng's adaptive
// filters (all five, per row) at zlib level 6, which was most of the time of a figure. Figures are
// flat colours: a row equal to the one above is filtered "up" (all zeros), any other row "sub"
// (runs of one colour become zeros), and rows are deflated at level 3 as they are made, with no
// whole-image buffer. About as small, several times faster. pHYs records the resolution.
std::string encode_png(cairo_surface_t* s, double dpi) {
    const int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    const size_t row_bytes = static_cast<size_t>(w) * 3;
    std::vector<unsigned char> row(row_bytes + 1);
    std::string z;
    z_stream zs{};
    if (deflateInit2(&zs, 3, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("cannot compress a {}×{} PNG", w, h);
    unsigned char buf[1 << 16];
    auto feed = [&](const unsigned char* in, size_t n, int flush) {
        zs.next_in = const_cast<unsigned char*>(in);
        zs.avail_in = static_cast<uInt>(n);
        do {
            zs.next_out = buf;
            zs.avail_out = sizeof buf;
            const int rc = deflate(&zs, flush);
            if (rc == Z_STREAM_ERROR) {
                deflateEnd(&zs);
                fail("cannot compress a {}×{} PNG", w, h);
            }
            z.append(reinterpret_cast<const char*>(buf), sizeof buf - zs.avail_out);
        } while (zs.avail_out == 0);
    };
    for (int y = 0; y < h; ++y) {
        const unsigned char* src = data + static_cast<size_t>(y) * stride;
        if (y > 0 && std::memcmp(src, src - stride, static_cast<size_t>(w) * 4) == 0) {
            row[0] = 2;  // up: the same as the row above
            std::fill(row.begin() + 1, row.end(), 0);
        } else {
            row[0] = 1;  // sub: each byte minus the same channel of the pixel to its left
            const auto* px = reinterpret_cast<const uint32_t*>(src);
            uint32_t left = 0;
            for (int x = 0; x < w; ++x) {
                const uint32_t c = px[x];
                row[1 + 3 * x] = static_cast<unsigned char>((c >> 16) - (left >> 16));
                row[2 + 3 * x] = static_cast<unsigned char>((c >> 8) - (left >> 8));
                row[3 + 3 * x] = static_cast<unsigned char>(c - left);
                left = c;
            }
        }
        feed(row.data(), row.size(), y + 1 == h ? Z_FINISH : Z_NO_FLUSH);
    }
    if (h == 0) feed(nullptr, 0, Z_FINISH);
    deflateEnd(&zs);
    std::string out("\x89PNG\r\n\x1a\n", 8);
    std::string ihdr;
    put_u32(ihdr, static_cast<uint32_t>(w));
    put_u32(ihdr, static_cast<uint32_t>(h));
    ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, deflate, no interlace
    put_chunk(out, "IHDR", ihdr);
    std::string phys;
    const uint32_t ppm = static_cast<uint32_t>(std::lround(dpi / 0.0254));
    put_u32(phys, ppm);
    put_u32(phys, ppm);
    phys += '\x01';  // unit: metre
    put_chunk(out, "pHYs", phys);
    put_chunk(out, "IDAT", z);
    put_chunk(out, "IEND", "");
    return out;
}

}  // namespace

Figure::Figure(double w, double h, const RenderOptions& opt) : format_(opt.format), w_(std::ceil(w)), h_(std::ceil(h)) {
    switch (format_) {
        case Format::png: {
            double s = std::max(opt.dpi, 1.0) / 72.0;
            s = std::min(s, kMaxPixels / std::max(w_, h_));  // very large grids: fewer pixels, never a failure
            dpi_ = s * 72.0;
            surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(std::ceil(w_ * s)),
                                                  static_cast<int>(std::ceil(h_ * s)));
            cr_ = cairo_create(surface_);
            cairo_scale(cr_, s, s);
            break;
        }
        case Format::svg:
            surface_ = cairo_svg_surface_create_for_stream(append_bytes, &stream_, w_, h_);
            cr_ = cairo_create(surface_);
            break;
        case Format::pdf:
            surface_ = cairo_pdf_surface_create_for_stream(append_bytes, &stream_, w_, h_);
            cairo_pdf_surface_set_metadata(surface_, CAIRO_PDF_METADATA_CREATOR, "dlmscope");
            cr_ = cairo_create(surface_);
            break;
    }
    if (cairo_status(cr_) != CAIRO_STATUS_SUCCESS)
        fail("cannot create a {:.0f}×{:.0f} pt figure: {}", w_, h_, cairo_status_to_string(cairo_status(cr_)));
    layout_ = pango_cairo_create_layout(cr_);
    configure(layout_);
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
}

Figure::~Figure() {
    if (layout_) g_object_unref(layout_);
    if (cr_) cairo_destroy(cr_);
    if (surface_) cairo_surface_destroy(surface_);
}

TextSize Figure::measure(const std::string& s, const TextStyle& st) { return set_text(measuring_layout(), s, st); }

void Figure::text(double x, double y, const std::string& s, const TextStyle& st) {
    if (s.empty()) return;
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    if (st.angle != 0.0) cairo_rotate(cr_, -st.angle * std::numbers::pi / 180.0);
    const TextSize size = set_text(layout_, s, st);
    const double ox = -st.ax * size.w, oy = -st.ay * size.h;
    cairo_move_to(cr_, ox, oy);
    cairo_set_source_rgb(cr_, st.color.r, st.color.g, st.color.b);
    pango_cairo_update_layout(cr_, layout_);
    pango_cairo_show_layout(cr_, layout_);
    if (format_ == Format::svg) {
        cairo_matrix_t m;
        cairo_get_matrix(cr_, &m);
        const double baseline = oy + static_cast<double>(pango_layout_get_baseline(layout_)) / PANGO_SCALE;
        items_.push_back({s, {m.xx, m.yx, m.xy, m.yy, m.x0, m.y0}, ox, baseline, st.size, st.bold, st.italic, st.mono});
    }
    cairo_restore(cr_);
}

void Figure::fill_rect(const Rect& r, Rgb c, double alpha) {
    cairo_rectangle(cr_, r.x, r.y, r.w, r.h);
    cairo_set_source_rgba(cr_, c.r, c.g, c.b, alpha);
    cairo_fill(cr_);
}

void Figure::stroke_rect(const Rect& r, Rgb c, double width) {
    cairo_rectangle(cr_, r.x, r.y, r.w, r.h);
    cairo_set_source_rgb(cr_, c.r, c.g, c.b);
    cairo_set_line_width(cr_, width);
    cairo_set_dash(cr_, nullptr, 0, 0);
    cairo_stroke(cr_);
}

void Figure::line(double x0, double y0, double x1, double y1, Rgb c, double width, double dash) {
    cairo_move_to(cr_, x0, y0);
    cairo_line_to(cr_, x1, y1);
    cairo_set_source_rgb(cr_, c.r, c.g, c.b);
    cairo_set_line_width(cr_, width);
    if (dash > 0) {
        const double d[2] = {dash, dash};
        cairo_set_dash(cr_, d, 2, 0);
    } else {
        cairo_set_dash(cr_, nullptr, 0, 0);
    }
    cairo_stroke(cr_);
    cairo_set_dash(cr_, nullptr, 0, 0);
}

void Figure::set_meta(const std::string& title, const std::string& description) {
    title_ = title;
    desc_ = description;
    if (format_ == Format::pdf) {
        cairo_pdf_surface_set_metadata(surface_, CAIRO_PDF_METADATA_TITLE, title.c_str());
        cairo_pdf_surface_set_metadata(surface_, CAIRO_PDF_METADATA_SUBJECT, description.c_str());
    }
}

void Figure::save(const std::string& path) {
    std::string bytes;
    if (format_ == Format::png) {
        cairo_surface_flush(surface_);
        if (cairo_surface_status(surface_) != CAIRO_STATUS_SUCCESS)
            fail("cannot draw {}: {}", path, cairo_status_to_string(cairo_surface_status(surface_)));
        bytes = encode_png(surface_, dpi_);
    } else {
        cairo_surface_finish(surface_);
        const cairo_status_t st = cairo_surface_status(surface_);
        if (st != CAIRO_STATUS_SUCCESS) fail("cannot draw {}: {}", path, cairo_status_to_string(st));
        bytes = std::move(stream_);
    }
    if (format_ == Format::svg) {
        // Heatmap cells are images: ask viewers not to smooth them (SVG 1.1 attribute and CSS).
        const std::string crisp = "<image image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\" ";
        for (size_t at = bytes.find("<image "); at != std::string::npos; at = bytes.find("<image ", at + crisp.size()))
            bytes.replace(at, 7, crisp);
        // <title>/<desc> right after the root element's start tag; the text layer before its end.
        const size_t root = bytes.find("<svg");
        const size_t open_end = root == std::string::npos ? root : bytes.find('>', root);
        const size_t close = bytes.rfind("</svg>");
        if (open_end == std::string::npos || close == std::string::npos || close < open_end)
            fail("cannot annotate {}: cairo wrote no <svg> root element", path);
        std::string layer = "<g id=\"text-layer\" fill-opacity=\"0\" stroke=\"none\" pointer-events=\"none\">\n";
        for (const TextItem& t : items_) {
            layer += fmt::format("<text transform=\"matrix({} {} {} {} {} {})\" x=\"{}\" y=\"{}\" font-size=\"{}\" font-family=\"{}\"",
                                 num(t.m[0]), num(t.m[1]), num(t.m[2]), num(t.m[3]), num(t.m[4]), num(t.m[5]),
                                 num(t.x), num(t.baseline), num(t.size), t.mono ? "DejaVu Sans Mono, monospace" : "DejaVu Sans, sans-serif");
            if (t.bold) layer += " font-weight=\"bold\"";
            if (t.italic) layer += " font-style=\"italic\"";
            layer += '>';
            layer += xml_escape(t.text);
            layer += "</text>\n";
        }
        layer += "</g>\n";
        bytes.insert(close, layer);
        const std::string meta = fmt::format("\n<title>{}</title>\n<desc>{}</desc>\n", xml_escape(title_), xml_escape(desc_));
        bytes.insert(open_end + 1, meta);
    }
    write_file_atomic(path, {{bytes.data(), bytes.size()}});
}

}  // namespace dlmscope::render
