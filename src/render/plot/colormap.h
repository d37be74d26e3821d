// dlmscope render: colormaps and colour scales. No cairo here; colours are plain RGB triples.
//
//   Colormap::viridis(), ::magma()   perceptually uniform sequential maps (256-entry tables from
//                                    matplotlib's _cm_listed.py, CC0 — van der Walt and Smith)
//   Colormap::diverging()            blue ↔ near-white ↔ red, linear in CIELAB lightness on each
//                                    side (for differences; symmetric around 0)
//   ColorScale                       value → [0, 1] (linear or log10), with labelled ticks
#pragma once

#include "render/render.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dlmscope::render {

struct Rgb {
    double r = 0, g = 0, b = 0;  // each in [0, 1]
};

class Colormap {
public:
    static const Colormap& viridis();
    static const Colormap& magma();
    static const Colormap& diverging();
    // "viridis" or "magma"; throws Error naming the value otherwise.
    static const Colormap& by_name(const std::string& name);

    // Colour at t in [0, 1] (clamped; NaN gives the "bad" colour, a light grey).
    Rgb at(double t) const;
    // Packed 0xAARRGGBB (opaque) for image surfaces.
    uint32_t argb(double t) const;
    const std::string& name() const { return name_; }

    Colormap(std::string name, std::vector<Rgb> table);

private:
    std::string name_;
    std::vector<Rgb> table_;
    std::array<uint32_t, 1024> lut_{};  // argb() lookups
};

struct Tick {
    double value = 0;
    std::string label;
};

// Maps data values onto [0, 1] for a colormap.
class ColorScale {
public:
    // Linear from vmin to vmax.
    static ColorScale linear(double vmin, double vmax);
    // log10 from vmin (> 0) to vmax; values ≤ vmin map to 0.
    static ColorScale log(double vmin, double vmax);
    // Linear, symmetric around 0: [−m, m] (diverging maps).
    static ColorScale symmetric(double m);
    // The range for probabilities in `values` (NaN skipped): linear 0..max; log from the smallest
    // positive value (but at least max·1e-4, so a few underflowed entries do not flatten the map).
    static ColorScale for_values(ScaleKind kind, const std::vector<float>& values);

    double normalize(double v) const;  // → [0, 1], NaN stays NaN
    std::vector<Tick> ticks() const;   // "nice" ticks inside [vmin, vmax] (decades for log)
    double vmin() const { return vmin_; }
    double vmax() const { return vmax_; }
    ScaleKind kind() const { return kind_; }

private:
    ScaleKind kind_ = ScaleKind::linear;
    double vmin_ = 0, vmax_ = 1;
};

// "Nice" tick values (1, 2, 2.5, 5 × 10^k steps) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// A tick label: shortest of fixed notation that tells neighbouring ticks apart.
std::string format_tick(double v, double step);
// 10^k with Unicode superscripts ("10⁻³").
std::string format_power_of_ten(int k);

}  // namespace dlmscope::render
