// dlmscope kernels: the thread team every backend runs its loops on.
//
// Why not OpenMP (measured on 2 cores): OpenMP's idle threads spin for milliseconds at each barrier,
// so with other work on the cores a thread waiting for a preempted partner burns its time slice;
// and OpenBLAS's own pool beside an OpenMP pool made the two spin against each other. The team's
// waiting threads spin 300 µs (longer than the serial gap between two kernels of a forward), then
// sleep on a futex (std::atomic::wait).
#pragma once

#include <cstdint>
#include <utility>

namespace dlmscope::kernels {

// Threads the kernels use; 0 = all cores. Changing it rebuilds the team on next use.
void set_threads(int n);
int threads();

// OpenBLAS keeps one thread count per process (per loaded copy of the library), and the kernels
// need it at 1 while they run BLAS inside the team's tasks. The team sets it when it starts; an
// embedding (the Python module, beside numpy) holds this guard around its calls so that the count
// it found is restored afterwards.
class BlasThreadsGuard {
public:
    BlasThreadsGuard();
    ~BlasThreadsGuard();
    BlasThreadsGuard(const BlasThreadsGuard&) = delete;
    BlasThreadsGuard& operator=(const BlasThreadsGuard&) = delete;

private:
    int saved_;
};

namespace detail {
using TaskFn = void (*)(void* ctx, int64_t i);
void parallel_for(int64_t n_tasks, int n_threads, TaskFn fn, void* ctx);
}  // namespace detail

// Calls f(i) for every i < n_tasks on up to n_threads threads (the caller included), each task
// taken by the next free thread, and returns when all are done. n_threads <= 1 runs on the caller,
// as does a loop started inside a task or while another thread's loop runs. If a task throws, no
// further tasks start, the loop waits for the running ones, and the first exception is rethrown
// here: no worker is left running the closure after parallel_for returns or throws.
template <typename F>
void parallel_for(int64_t n_tasks, int n_threads, F&& f) {
    detail::parallel_for(n_tasks, n_threads, [](void* ctx, int64_t i) { (*static_cast<std::remove_reference_t<F>*>(ctx))(i); },
                         const_cast<void*>(static_cast<const void*>(&f)));
}

// Below this much work (flops, or elements touched) a loop runs on one thread.
constexpr double kParallelFlops = 4e6;
constexpr double kParallelElems = 1 << 15;
inline int threads_for(double work, double threshold) { return work < threshold ? 1 : threads(); }

// Runs f(begin, end) over [0, n) in one contiguous piece per thread.
template <typename F>
void parallel_rows(int64_t n, double work, F&& f) {
    const int nt = threads_for(work, kParallelElems);
    const int64_t per = (n + nt - 1) / nt;
    parallel_for(nt, nt, [&](int64_t t) {
        const int64_t b = t * per, e = b + per < n ? b + per : n;
        if (b < e) f(b, e);
    });
}

}  // namespace dlmscope::kernels
