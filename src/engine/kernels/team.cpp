#include "engine/kernels/team.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

extern "C" void openblas_set_num_threads(int);  // provided by OpenBLAS
extern "C" int openblas_get_num_threads(void);

namespace dlmscope::kernels {

namespace {

// The calling thread plus n - 1 workers, running one loop at a time.
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

    void parallel_for(int64_t n_tasks, int n_threads, detail::TaskFn fn, void* ctx) {
        std::unique_lock<std::mutex> lock(busy_mutex_, std::defer_lock);
        if (n_threads <= 1 || n_tasks <= 1 || workers_.empty() || in_task_ || !lock.try_lock()) {
            for (int64_t i = 0; i < n_tasks; ++i) fn(ctx, i);
            return;
        }
        // Every worker takes part (one with nothing left to take just checks in), so none can still
        // be reading job_ when the next loop overwrites it.
        job_ = {fn, ctx, n_tasks};
        error_ = nullptr;
        next_.store(0, std::memory_order_relaxed);
        running_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);  // publishes job_
        generation_.notify_all();
        run_tasks();
        for (int left; (left = running_.load(std::memory_order_acquire)) != 0;) wait_change(running_, left);
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

private:
    struct Job {
        detail::TaskFn fn = nullptr;
        void* ctx = nullptr;
        int64_t n_tasks = 0;
    };

    // Spins up to 300 µs for `a` to leave `old`, then sleeps until it does: waking a sleeping
    // thread cost 100 µs or more per kernel on a 2-vCPU VM.
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
        for (int64_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < job_.n_tasks;) {
            try {
                job_.fn(job_.ctx, i);
            } catch (...) {
                std::lock_guard<std::mutex> g(error_mutex_);
                if (!error_) error_ = std::current_exception();
                next_.store(job_.n_tasks, std::memory_order_relaxed);  // start no more tasks
            }
        }
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
    std::mutex error_mutex_;
    std::exception_ptr error_;
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

}  // namespace

void set_threads(int n) {
    std::lock_guard<std::mutex> lock(g_team_mutex);
    g_threads = n;
    g_team.reset();
}

int threads() { return g_threads > 0 ? g_threads : cores(); }

BlasThreadsGuard::BlasThreadsGuard() : saved_(openblas_get_num_threads()) { openblas_set_num_threads(1); }
BlasThreadsGuard::~BlasThreadsGuard() { openblas_set_num_threads(saved_); }

void detail::parallel_for(int64_t n_tasks, int n_threads, TaskFn fn, void* ctx) { team().parallel_for(n_tasks, n_threads, fn, ctx); }

}  // namespace dlmscope::kernels
