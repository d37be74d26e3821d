// dlmscope._dlmscope: the compiled half of the Python package (python/dlmscope/ is the other).
//
// It binds the public C++ API (include/dlmscope/) and nothing internal: Engine, the in-memory
// AttentionRecorder, the RunRecorder that writes run directories, and the model-free analysis.
// Generation releases the GIL; after every step it takes the GIL back for a moment to run
// PyErr_CheckSignals, so Ctrl-C stops the run at the next step (the run directory keeps every
// completed step) and surfaces as KeyboardInterrupt.
#include "dlmscope/analysis.h"
#include "dlmscope/capture.h"
#include "dlmscope/engine.h"
#include "dlmscope/run.h"

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <optional>

namespace py = pybind11;
using namespace dlmscope;

namespace {

template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v, std::vector<py::ssize_t> shape) {
    py::array_t<T> a(shape);
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

py::dict info_dict(const ModelInfo& i) {
    py::dict d;
    d["path"] = i.path, d["model_type"] = i.model_type;
    d["d_model"] = i.d_model, d["n_layers"] = i.n_layers, d["n_heads"] = i.n_heads, d["n_kv_heads"] = i.n_kv_heads;
    d["head_dim"] = i.head_dim, d["mlp_hidden"] = i.mlp_hidden, d["vocab_size"] = i.vocab_size;
    d["embedding_size"] = i.embedding_size, d["max_sequence_length"] = i.max_sequence_length, d["n_params"] = i.n_params;
    d["backend"] = i.backend, d["isa"] = i.isa, d["precision"] = i.precision, d["threads"] = i.threads;
    d["mask_id"] = i.mask_id, d["eos_id"] = i.eos_id, d["eot_id"] = i.eot_id;
    return d;
}

py::dict step_dict(const StepRecord& r) {
    py::dict d;
    d["step"] = r.step, d["block"] = r.block, d["step_in_block"] = r.step_in_block;
    d["kind"] = forward_kind_name(r.kind), d["rows"] = py::make_tuple(r.row_begin, r.row_end);
    d["positions"] = r.positions, d["tokens"] = r.tokens, d["confidences"] = r.confidences;
    d["forward_s"] = r.forward_seconds;
    return d;
}

// Keyword arguments (Python names) -> GenerateParams, on top of the engine's defaults.
GenerateParams params_from(const Engine& e, const py::dict& kw) {
    GenerateParams p = e.default_params();
    for (auto [k, v] : kw) {
        const std::string key = py::str(k);
        if (v.is_none()) continue;
        if (key == "gen_length") p.gen_length = v.cast<int>();
        else if (key == "steps") p.steps = v.cast<int>();
        else if (key == "block_length") p.block_length = v.cast<int>();
        else if (key == "temperature") p.temperature = v.cast<double>();
        else if (key == "cfg_scale") p.cfg_scale = v.cast<double>();
        else if (key == "remasking") p.remasking = parse_remasking(v.cast<std::string>());
        else if (key == "sampler") {
            const auto s = v.cast<std::string>();
            if (s != "auto") p.flavor = parse_sampler_flavor(s);
        } else if (key == "seed") p.seed = v.cast<uint64_t>();
        else if (key == "mask_id") p.mask_id = v.cast<int32_t>();
        else if (key == "logits_eos_inf") p.logits_eos_inf = v.cast<bool>();
        else if (key == "confidence_eos_eot_inf") p.confidence_eos_eot_inf = v.cast<bool>();
        else if (key == "cache") p.cache = parse_cache_mode(v.cast<std::string>());
        else if (key == "parallel_threshold") p.parallel_threshold = v.cast<double>();
        else if (key == "cache_refresh") p.cache_refresh = v.cast<int>();
        else if (key == "cache_audit") p.cache_audit = v.cast<bool>();
        else throw Error("unknown generation parameter '" + key + "'");
    }
    return p;
}

// Capture selection from the CLI's --capture-* syntax; empty/None entries keep the defaults.
CaptureSelection selection_from(const py::dict& kw) {
    CaptureSelection s;
    const auto get = [&](const char* k) -> std::optional<std::string> {
        if (!kw.contains(k) || kw[k].is_none()) return std::nullopt;
        return py::str(kw[k]).cast<std::string>();
    };
    if (auto v = get("steps")) s.parse_steps(*v);
    if (auto v = get("layers")) s.parse_layers(*v);
    if (auto v = get("heads")) s.parse_heads(*v);
    if (auto v = get("rows")) s.parse_rows(*v);
    if (auto v = get("dtype")) s.parse_dtype(*v);
    return s;
}

ChatTemplate template_from(const std::string& s) { return parse_chat_template(s); }

// Runs the engine without the GIL. `on_step` (Python, may be None) runs with the GIL after each
// step, as does the signal check; a pending KeyboardInterrupt stops the run and is re-raised.
GenerateResult run_generation(Engine& e, const std::vector<int32_t>& prompt, const GenerateParams& p, const py::object& on_step) {
    std::atomic<bool> cancel{false};
    std::optional<py::error_already_set> pending;
    GenerateCallbacks cb;
    cb.cancel = &cancel;
    const int fixed = fixed_steps_per_block(p);
    const int total = fixed > 0 ? max_steps(p) : p.gen_length;
    int committed = 0;
    cb.on_step = [&](const StepRecord& r) {
        py::gil_scoped_acquire gil;
        committed += static_cast<int>(r.positions.size());
        try {
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            if (!on_step.is_none()) on_step(step_dict(r), fixed > 0 ? r.step + 1 : committed, total);
        } catch (py::error_already_set& err) {
            pending.emplace(std::move(err));
            cancel.store(true);
        }
    };
    try {
        py::gil_scoped_release nogil;
        return e.generate(prompt, p, cb);
    } catch (const Cancelled&) {
        if (pending) throw std::move(*pending);
        throw;
    }
}

class PyRecorder {
public:
    explicit PyRecorder(const py::dict& selection) : rec_(selection_from(selection)) {}
    AttentionRecorder& get() { return rec_; }
    py::dict maps() const {
        py::dict d;
        for (const auto& [key, m] : rec_.maps()) {
            py::array_t<float> a({m.heads, m.queries, m.keys});
            std::copy(m.data.begin(), m.data.end(), a.mutable_data());
            d[py::make_tuple(key.first, key.second)] = a;
        }
        return d;
    }
    py::dict rows() const {
        py::dict d;
        for (const auto& [key, m] : rec_.maps()) d[py::make_tuple(key.first, key.second)] = py::make_tuple(m.row_begin, m.row_begin + m.queries);
        return d;
    }
    size_t size() const { return rec_.maps().size(); }
    void clear() { rec_.clear(); }

private:
    AttentionRecorder rec_;
};

struct Attachment {
    Engine::ObserverHandle handle;
    void detach() { handle.reset(); }
};

}  // namespace

PYBIND11_MODULE(_dlmscope, m) {
    m.doc() = "dlmscope's compiled core; use the dlmscope package, not this module.";
    static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const Error& e) {
            PyErr_SetString(error.ptr(), e.what());
        }
    });

    py::class_<PyRecorder>(m, "Recorder")
        .def(py::init<const py::dict&>(), py::arg("selection"))
        .def("maps", &PyRecorder::maps)
        .def("rows", &PyRecorder::rows)
        .def("clear", &PyRecorder::clear)
        .def("__len__", &PyRecorder::size);

    py::class_<Attachment>(m, "Attachment").def("detach", &Attachment::detach);

    py::class_<Engine>(m, "Engine")
        .def_static(
            "load",
            [](const std::string& dir, const std::string& backend, const std::string& precision, const std::string& weights, int threads) {
                LoadOptions lo;
                lo.backend = backend;
                lo.precision = parse_precision(precision);
                lo.weights = parse_weight_precision(weights);
                lo.threads = threads;
                py::gil_scoped_release nogil;
                return Engine::load(dir, lo);
            },
            py::arg("model_dir"), py::arg("backend") = "auto", py::arg("precision") = "f32", py::arg("weights") = "auto",
            py::arg("threads") = 0)
        .def_property_readonly("info", [](const Engine& e) { return info_dict(e.info()); })
        .def("apply_chat_template", [](const Engine& e, const std::string& t, const std::string& tmpl) { return e.apply_chat_template(t, template_from(tmpl)); },
             py::arg("text"), py::arg("template") = "auto")
        .def("encode", &Engine::encode, py::arg("text"))
        .def("encode_chat", [](const Engine& e, const std::string& t, const std::string& tmpl) { return e.encode_chat(t, template_from(tmpl)); },
             py::arg("text"), py::arg("template") = "auto")
        .def("decode", [](const Engine& e, const std::vector<int32_t>& ids, bool skip) { return e.decode(ids, skip); }, py::arg("ids"),
             py::arg("skip_special") = true)
        .def("token_text", &Engine::token_text, py::arg("id"))
        .def("token_id", &Engine::token_id, py::arg("token"))
        .def_property_readonly("chat_template", [](const Engine& e) { return chat_template_name(e.chat_template()); })
        .def("default_params",
             [](const Engine& e) {
                 const GenerateParams p = e.default_params();
                 py::dict d;
                 d["mask_id"] = p.mask_id, d["eos_id"] = p.eos_id, d["eot_id"] = p.eot_id;
                 d["sampler"] = sampler_flavor_name(p.flavor), d["seed"] = p.seed;
                 return d;
             })
        .def("attach", [](Engine& e, PyRecorder& r) { return Attachment{e.attach(r.get())}; }, py::arg("recorder"),
             py::keep_alive<0, 2>(), py::keep_alive<0, 1>())
        .def_property_readonly("observer_count", &Engine::observer_count)
        .def("set_context", &Engine::set_context, py::arg("step"), py::arg("block"))
        .def("forward",
             [](Engine& e, const std::vector<int32_t>& ids) {
                 std::vector<float> logits;
                 {
                     py::gil_scoped_release nogil;
                     logits = e.forward(ids);
                 }
                 const auto V = static_cast<py::ssize_t>(e.info().embedding_size);
                 return to_numpy(logits, {static_cast<py::ssize_t>(ids.size()), V});
             },
             py::arg("ids"))
        // generate(prompt_ids, params, run, capture, on_step): params as keywords (dict); run = None or
        // a dict (out_dir, manifest, existing, prompt, rendered, template); capture = None or a selection dict.
        .def(
            "generate",
            [](Engine& e, const std::vector<int32_t>& prompt, const py::dict& params, const py::object& run, const py::object& capture,
               const py::object& on_step) {
                const GenerateParams p = params_from(e, params);
                e.validate(prompt, p);
                std::unique_ptr<RunRecorder> rec;
                if (!run.is_none()) {
                    const py::dict r = run.cast<py::dict>();
                    RunOptions ro;
                    ro.out_dir = r["out_dir"].cast<std::string>();
                    ro.manifest = r["manifest"].cast<std::string>();
                    const std::string ex = r["existing"].cast<std::string>();
                    ro.existing = ex == "overwrite" ? ExistingRun::overwrite : ex == "keep" ? ExistingRun::keep : ExistingRun::refuse;
                    ro.capture = !capture.is_none();
                    if (ro.capture) ro.selection = selection_from(capture.cast<py::dict>());
                    RunPrompt rp;
                    rp.text = r["prompt"].cast<std::string>();
                    rp.rendered = r["rendered"].cast<std::string>();
                    rp.template_name = r["template"].cast<std::string>();
                    rp.ids = prompt;
                    rec = std::make_unique<RunRecorder>(ro, e.info(), p, rp);
                }
                Engine::ObserverHandle handle;
                if (rec && rec->tap()) handle = e.attach(*rec->tap());
                GenerateResult res;
                RunText text;
                try {
                    res = run_generation(e, prompt, p, on_step);
                    text = e.text(res);
                    if (rec) {
                        py::gil_scoped_release nogil;
                        rec->finish(res, text);
                    }
                } catch (py::error_already_set& err) {
                    if (rec) rec->abort(Cancelled("interrupted"));
                    throw;
                } catch (const std::exception& err) {
                    if (rec) rec->abort(err);
                    throw;
                }
                const auto T = static_cast<py::ssize_t>(res.steps.size()), L = static_cast<py::ssize_t>(res.canvas.size());
                py::dict out;
                out["canvas"] = to_numpy(res.canvas, {L});
                out["history"] = to_numpy(res.history, {T + 1, L});
                py::list steps;
                for (const StepRecord& r : res.steps) steps.append(step_dict(r));
                out["steps"] = steps;
                out["prompt_length"] = static_cast<int>(prompt.size());
                out["text"] = text.text;
                out["text_with_special"] = text.text_with_special;
                out["manifest"] = rec ? py::object(py::str(rec->manifest_path())) : py::object(py::none());
                out["seconds"] = res.seconds, out["forward_seconds"] = res.forward_seconds, out["forwards"] = res.forwards;
                out["steps_per_block"] = res.steps_per_block;
                return out;
            },
            py::arg("prompt_ids"), py::arg("params"), py::arg("run") = py::none(), py::arg("capture") = py::none(),
            py::arg("on_step") = py::none());

    m.def("backend_names", &backend_names, "Every kernel backend's name, fastest first");
    m.def("available_backends", &available_backends, "The kernel backends this CPU runs, fastest first");
    m.def(
        "analyze",
        [](const std::string& input, const std::string& output, const std::vector<std::string>& formats, bool figures, int max_layers,
           int prompt_length, int max_tokens) {
            AnalysisOptions o;
            o.input = input, o.output = output, o.formats = formats, o.figures = figures;
            o.max_layers = max_layers, o.prompt_length = prompt_length, o.max_tokens = max_tokens;
            AnalysisResult r;
            {
                py::gil_scoped_release nogil;
                r = analyze(o);
            }
            py::dict d;
            d["report"] = r.report_path, d["metrics"] = r.csv_path;
            d["rollout"] = r.rollout_path.empty() ? py::object(py::none()) : py::object(py::str(r.rollout_path));
            d["steps"] = r.steps, d["layers"] = r.layers, d["figures"] = r.figures, d["warnings"] = r.warnings;
            d["viewer"] = r.viewer_path.empty() ? py::object(py::none()) : py::object(py::str(r.viewer_path));
            return d;
        },
        py::arg("input"), py::arg("output"), py::arg("formats"), py::arg("figures"), py::arg("max_layers"), py::arg("prompt_length"),
        py::arg("max_tokens"));
    m.def(
        "render_figure",
        [](const std::string& run, const std::string& kind, int step, int layer, int head, const std::string& output, double dpi,
           int max_tokens, const std::string& scale, const std::string& colormap) {
            FigureOptions o;
            o.dpi = dpi, o.max_tokens = max_tokens, o.scale = scale, o.colormap = colormap;
            py::gil_scoped_release nogil;
            return render_figure(run, {kind, step, layer, head}, output, o);
        },
        py::arg("run"), py::arg("kind"), py::arg("step"), py::arg("layer"), py::arg("head"), py::arg("output"), py::arg("dpi"),
        py::arg("max_tokens"), py::arg("scale"), py::arg("colormap"));
    m.def(
        "render_figures",
        [](const std::string& run, const std::string& out_dir, const std::string& format) {
            py::gil_scoped_release nogil;
            return render_figures(run, out_dir, format);
        },
        py::arg("run"), py::arg("out_dir"), py::arg("format"));
    m.def(
        "write_viewer",
        [](const std::string& run, const std::string& output, double max_mb) {
            py::gil_scoped_release nogil;
            return write_viewer(run, output, max_mb);
        },
        py::arg("run"), py::arg("output"), py::arg("max_mb"));
}
