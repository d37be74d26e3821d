// Fast kernels: every matrix product goes through BLAS sgemm; the work is spread over a small team
// of threads. Each must agree with its twin in ref.cpp (tests/unit/test-kernels.cpp).
//
// Threading, and why it is not OpenMP (measured on 2 cores with the 100M bench model):
//   * BLAS runs single-threaded, called on independent slices (column slices of a matmul, heads of
//     attention). OpenBLAS's own pool next to an OpenMP pool made the two spin against each other:
//     the forward ran at ~20% of the sgemm peak.
//   * One OpenMP pool with single-threaded BLAS fixed that on an idle machine, but OpenMP's idle
//     threads spin for milliseconds at every barrier. With other work on the cores, a thread that
//     waits for a preempted partner burns its slice spinning: 2 threads ran a forward slower than
//     1 (23 vs 56 GFLOP/s best-of-6, machine load ~5); with OMP_WAIT_POLICY=passive, 2 threads ran
//     at 41. The library cannot set that variable (libgomp reads it before main), so the kernels
//     use their own team: waiting threads spin 300 µs, then sleep on a futex (std::atomic::wait).
// Loops too small to gain from threads run on the caller. Softmax and SiLU use exp_approx, which
// vectorises: std::exp took half of the attention time.
#include "engine/kernels/kernels.h"

#include "core/half.h"

#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

extern "C" {
void openblas_set_num_threads(int);  // provided by OpenBLAS
}

namespace dlmscope::kernels {

namespace {

// ---- thread team ---------------------------------------------------------------------------------

// The calling thread plus n - 1 workers, running one parallel loop at a time: parallel_for(n_tasks,
// n_threads, f) calls f(i) for every i < n_tasks, each task taken by the next free thread, and
// returns when all are done. n_threads <= 1 runs the loop on the caller; so does a loop started
// while another runs (from another thread, or from inside a task) instead of waiting for it.
class Team {
public:
    explicit Team(int n) {
        for (int id = 1; id < n; ++id) workers_.emplace_back([this] { work(); });
    }
    ~Team() {
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
        for (auto& w : workers_) w.join();
    }
    Team(const Team&) = delete;
    Team& operator=(const Team&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    template <typename F>
    void parallel_for(int64_t n_tasks, int n_threads, F&& f) {
        std::unique_lock<std::mutex> lock(busy_mutex_, std::defer_lock);
        if (n_threads <= 1 || n_tasks <= 1 || workers_.empty() || in_task_ || !lock.try_lock()) {
            for (int64_t i = 0; i < n_tasks; ++i) f(i);
            return;
        }
        // Every worker takes part (one with nothing left to take just checks in), so none can still
        // be reading job_ when the next loop overwrites it.
        job_ = {[](void* ctx, int64_t i) { (*static_cast<F*>(ctx))(i); }, &f, n_tasks};
        next_.store(0, std::memory_order_relaxed);
        running_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);  // publishes job_
        generation_.notify_all();
        run_tasks();
        // Wait for the workers to finish their last task.
        for (int left; (left = running_.load(std::memory_order_acquire)) != 0;) wait_change(running_, left);
    }

private:
    struct Job {
        void (*call)(void* ctx, int64_t i) = nullptr;
        void* ctx = nullptr;
        int64_t n_tasks = 0;
    };

    // Spins up to 300 µs for `a` to leave `old`, then sleeps until it does. The serial gaps between
    // two kernels of one forward (a residual add, ~100 µs) are shorter, so workers stay awake through
    // a forward: waking a sleeping thread cost 100 µs or more per kernel here (a VM with 2 vCPUs).
    template <typename T>
    static void wait_change(const std::atomic<T>& a, T old) {
        const auto t0 = std::chrono::steady_clock::now();
        while (a.load(std::memory_order_acquire) == old)
            if (std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(300)) {
                a.wait(old, std::memory_order_acquire);
                return;
            }
    }

    void run_tasks() {
        in_task_ = true;
        for (int64_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < job_.n_tasks;) job_.call(job_.ctx, i);
        in_task_ = false;
    }

    void work() {
        uint32_t seen = 0;
        for (;;) {
            wait_change(generation_, seen);
            seen = generation_.load(std::memory_order_acquire);
            if (stop_) return;
            run_tasks();
            if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) running_.notify_one();
        }
    }

    static inline thread_local bool in_task_ = false;  // this thread is running a task of a loop
    std::vector<std::thread> workers_;
    std::mutex busy_mutex_;  // held by the thread running a loop
    Job job_;
    std::atomic<uint32_t> generation_{0};  // bumped once per loop (and to stop)
    std::atomic<int64_t> next_{0};         // next task index
    std::atomic<int> running_{0};          // workers still in the current loop
    std::atomic<bool> stop_{false};
};

int g_threads = 0;  // as set by set_threads; 0 = all cores
std::mutex g_team_mutex;
std::unique_ptr<Team> g_team;

int cores() {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

Team& team() {
    std::lock_guard<std::mutex> lock(g_team_mutex);
    if (!g_team) {
        openblas_set_num_threads(1);  // BLAS runs inside the team's tasks
        g_team = std::make_unique<Team>(threads());
    }
    return *g_team;
}

// Below this much work (elements touched, or flops) a loop runs on one thread.
constexpr double kParallelElems = 1 << 15;
constexpr double kParallelFlops = 4e6;

int threads_for(double work, double threshold) { return work < threshold ? 1 : threads(); }

// Runs f(begin, end) over [0, n) in one contiguous piece per thread.
template <typename F>
void parallel_rows(int64_t n, double work, F&& f) {
    const int nt = threads_for(work, kParallelElems);
    const int64_t per = (n + nt - 1) / nt;
    team().parallel_for(nt, nt, [&](int64_t t) { f(t * per, std::min(n, (t + 1) * per)); });
}

// ---- elementwise --------------------------------------------------------------------------------

// e^x to within 1.5 ulp for |x| <= 87 (beyond, x is clamped to ±87), with no branch or call so that
// the softmax and SiLU loops vectorise (std::exp does not). x = n·ln2 + r, |r| <= ln2/2 (ln2 split
// in two for an exact product), e^r by Cephes' expf polynomial, 2^n written into the exponent bits.
// The clamp works on the bit pattern: a float compare would keep GCC from vectorising the loop
// (-ftrapping-math).
inline float exp_approx(float x) {
    uint32_t b = std::bit_cast<uint32_t>(x);
    if ((b & 0x7fffffffu) > 0x42ae0000u) b = (b & 0x80000000u) | 0x42ae0000u;  // |x| > 87.0f
    x = std::bit_cast<float>(b);
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln2)
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

// ---- matmul --------------------------------------------------------------------------------------

// Rows of a bf16/f16 weight are widened to f32 per call, at most kChunkElems floats at a time per
// thread, so the sgemm below sees f32 and the scratch stays small.
constexpr int64_t kChunkElems = int64_t(1) << 20;  // 4 MiB of f32 per thread

void widen_rows(const Matrix& W, int64_t r0, int64_t n, float* out) {
    const uint16_t* p = static_cast<const uint16_t*>(W.data) + r0 * W.cols;
    const int64_t total = n * W.cols;
    if (W.dtype == DType::bf16) {
        for (int64_t i = 0; i < total; ++i) out[i] = bf16_to_f32(p[i]);
    } else {
        for (int64_t i = 0; i < total; ++i) out[i] = f16_to_f32(p[i]);
    }
}

// y[:, n0:n0+n] = x · W[n0:n0+n, :]ᵀ on the calling thread.
void matmul_rows(const float* x, int64_t M, int64_t ldx, const Matrix& W, int64_t n0, int64_t n, float* y, int64_t ldy) {
    const int64_t K = W.cols;
    const float* w = nullptr;
    thread_local std::vector<float> scratch;
    if (W.dtype == DType::f32) {
        w = static_cast<const float*>(W.data) + n0 * K;
    } else {
        scratch.resize(static_cast<size_t>(n * K));
        widen_rows(W, n0, n, scratch.data());
        w = scratch.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(n), static_cast<int>(K), 1.0f, x,
                static_cast<int>(ldx), w, static_cast<int>(K), 0.0f, y + n0, static_cast<int>(ldy));
}

}  // namespace

void set_threads(int n) {
    std::lock_guard<std::mutex> lock(g_team_mutex);
    g_threads = n;
    g_team.reset();  // rebuilt with the new size on next use
}

int threads() { return g_threads > 0 ? g_threads : cores(); }

namespace cpu {

void matmul(const float* x, int64_t M, int64_t ldx, const Matrix& W, float* y, int64_t ldy) {
    const int64_t N = W.rows, K = W.cols;
    if (M == 0 || N == 0) return;
    const int nt = threads_for(2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K), kParallelFlops);
    // Column slices of y (rows of W): two per thread, so a thread the OS preempts holds up the others
    // less; one when running alone. Multiples of 64 keep the BLAS kernel on full register tiles.
    const int64_t pieces = nt == 1 ? 1 : 2 * nt;
    int64_t slice = std::max<int64_t>(64, ((N + pieces - 1) / pieces + 63) / 64 * 64);
    if (W.dtype != DType::f32) slice = std::min(slice, std::max<int64_t>(1, kChunkElems / std::max<int64_t>(K, 1)));
    const int64_t n_slices = (N + slice - 1) / slice;
    team().parallel_for(n_slices, nt, [&](int64_t s) { matmul_rows(x, M, ldx, W, s * slice, std::min(slice, N - s * slice), y, ldy); });
}

void rmsnorm(const float* x, int64_t M, int64_t d, const Matrix& w, float eps, float* y) {
    thread_local std::vector<float> wf;
    wf.resize(static_cast<size_t>(d));
    for (int64_t j = 0; j < d; ++j)
        wf[j] = w.dtype == DType::f32 ? static_cast<const float*>(w.data)[j]
              : w.dtype == DType::bf16 ? bf16_to_f32(static_cast<const uint16_t*>(w.data)[j])
                                       : f16_to_f32(static_cast<const uint16_t*>(w.data)[j]);
    const float* wp = wf.data();
    parallel_rows(M, static_cast<double>(M * d), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const float* xi = x + i * d;
            float ss = 0.0f;
            for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
            const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
            float* yi = y + i * d;
            for (int64_t j = 0; j < d; ++j) yi[j] = (xi[j] * inv) * wp[j];
        }
    });
}

void rope(float* x, int64_t L, int64_t ld, int n_heads, int hd, const float* cos, const float* sin) {
    const int half = hd / 2;
    parallel_rows(L, static_cast<double>(L * n_heads * hd), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float* c = cos + p * hd;
            const float* s = sin + p * hd;
            for (int h = 0; h < n_heads; ++h) {
                float* t = x + p * ld + static_cast<int64_t>(h) * hd;
                for (int j = 0; j < half; ++j) {
                    const float a = t[j], b = t[j + half];
                    t[j] = a * c[j] - b * s[j];
                    t[j + half] = b * c[j + half] + a * s[j + half];
                }
            }
        }
    });
}

void silu_mul(const float* g, const float* u, float* z, int64_t n) {
    parallel_rows(n, static_cast<double>(n), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) z[i] = g[i] / (1.0f + exp_approx(-g[i])) * u[i];
    });
}

void attention(const float* q, const float* k, const float* v, int64_t L, int n_heads, int n_kv_heads, int hd,
               float* probs, float* o) {
    const int dq = n_heads * hd, dkv = n_kv_heads * hd, group = n_heads / n_kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const int iL = static_cast<int>(L);
    const double flops = 4.0 * n_heads * static_cast<double>(L) * static_cast<double>(L) * hd;
    // Heads are independent: each task is one whole head (scores, softmax, P·v).
    team().parallel_for(n_heads, threads_for(flops, kParallelFlops), [&](int64_t hh) {
        const int h = static_cast<int>(hh);
        float* P = probs + static_cast<int64_t>(h) * L * L;
        // S_h = scale · q_h k_hᵀ, written straight into probs.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, iL, iL, hd, scale, q + h * hd, dq, k + (h / group) * hd, dkv, 0.0f, P,
                    iL);
        // Row softmax over keys (max-subtracted).
        for (int64_t r = 0; r < L; ++r) {
            float* p = P + r * L;
            float mx = p[0];
            for (int64_t j = 1; j < L; ++j) mx = std::max(mx, p[j]);
            for (int64_t j = 0; j < L; ++j) p[j] = exp_approx(p[j] - mx);
            float sum = 0.0f;
            for (int64_t j = 0; j < L; ++j) sum += p[j];
            const float inv = 1.0f / sum;
            for (int64_t j = 0; j < L; ++j) p[j] *= inv;
        }
        // o_h = P_h · v_h.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, iL, hd, iL, 1.0f, P, iL, v + (h / group) * hd, dkv, 0.0f, o + h * hd,
                    dq);
    });
}

}  // namespace cpu
}  // namespace dlmscope::kernels
