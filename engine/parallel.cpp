#include "engine/parallel.h"

#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/wait_policy.h"

namespace taper {
namespace {

// A condition that other threads make true with a (sequentially consistent)
// atomic write, waited for by polling (spin_until), then by sleeping. The
// writer calls notify() after its write. Why no wake-up is lost: a sleeper
// increments sleepers_ and then reads the condition, the writer writes the
// condition and then reads sleepers_, all four sequentially consistent, so
// either the sleeper sees the write or the writer sees the sleeper; in the
// second case the writer takes the mutex, which the sleeper holds from its
// increment until cv_.wait releases it atomically.
class Signal {
 public:
  template <typename Ready>
  void wait(const Ready& ready) {
    if (spin_until(ready, wait_policy())) return;
    std::unique_lock<std::mutex> lock(mutex_);
    sleepers_.fetch_add(1);
    cv_.wait(lock, ready);
    sleepers_.fetch_sub(1);
  }
  void notify() {
    if (sleepers_.load() == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
};

struct Pool {
  int size = 0;  // threads, the owner included; 0 until first set up
  std::thread::id owner;
  std::vector<std::thread> workers;  // threads 1..size-1
  // The current loop, published by the generation bump that starts it.
  void (*part)(void*, int) = nullptr;
  void* ctx = nullptr;
  std::vector<std::exception_ptr> errors;  // per part
  bool stopping = false;                   // the bump asks the workers to exit
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};  // workers still running their part
  Signal start, finish;
};

// Never destroyed: the workers may still poll it while the process exits.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

thread_local int tl_index = 0;
thread_local bool tl_in_part = false;

void run_part(Pool& p, int t) {
  tl_in_part = true;
  try {
    p.part(p.ctx, t);
  } catch (...) {
    p.errors[t] = std::current_exception();
  }
  tl_in_part = false;
}

void worker_main(Pool* p, int t, uint64_t seen) {
  tl_index = t;
  for (;;) {
    p->start.wait([&] { return p->generation.load() != seen; });
    seen = p->generation.load();
    if (p->stopping) return;
    run_part(*p, t);
    if (p->pending.fetch_sub(1) == 1) p->finish.notify();
  }
}

void stop_workers(Pool& p) {
  if (p.workers.empty()) return;
  p.stopping = true;
  p.generation.fetch_add(1);
  p.start.notify();
  for (auto& w : p.workers) w.join();
  p.workers.clear();
  p.stopping = false;
}

void resize(Pool& p, int n) {
  wait_policy();  // a bad OMP_WAIT_POLICY / TAPER_SPIN_US throws here, on the caller
  stop_workers(p);
  p.size = n;
  p.errors.assign(n, nullptr);
  // Workers block every signal: SIGINT/SIGTERM are handled on the threads
  // the program started (apps/interrupt.h).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (int t = 1; t < n; ++t) p.workers.emplace_back(worker_main, &p, t, p.generation.load());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

int default_threads() {
  if (const char* v = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    check(*v && !*end && n >= 1 && n <= 1024, "OMP_NUM_THREADS=\"", v, "\": expected a thread count 1..1024");
    return static_cast<int>(n);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// The pool, set up at its default size on first use (by whichever thread
// gets there first; the others wait for it).
std::atomic<bool> g_ready{false};
std::mutex g_setup;

Pool& ready_pool() {
  Pool& p = pool();
  if (g_ready.load(std::memory_order_acquire)) return p;
  std::lock_guard<std::mutex> lock(g_setup);
  if (p.size == 0) {
    p.owner = std::this_thread::get_id();
    resize(p, default_threads());
  }
  g_ready.store(true, std::memory_order_release);
  return p;
}

}  // namespace

void set_num_threads(int n) {
  check(n >= 1 && n <= 1024, "thread count must be in 1..1024, got ", n);
  check(!tl_in_part, "set_num_threads called inside a parallel loop");
  std::lock_guard<std::mutex> lock(g_setup);
  Pool& p = pool();
  p.owner = std::this_thread::get_id();
  if (n != p.size) resize(p, n);
  g_ready.store(true, std::memory_order_release);
}

int num_threads() { return ready_pool().size; }

int thread_index() { return tl_index; }

bool in_parallel() { return tl_in_part; }

void run_parts(void (*part)(void*, int), void* ctx) {
  Pool& p = ready_pool();
  if (p.size == 1 || tl_in_part || std::this_thread::get_id() != p.owner) {
    // One after the other on this thread, each part with its own index.
    struct Restore {
      int index;
      bool in_part;
      ~Restore() {
        tl_index = index;
        tl_in_part = in_part;
      }
    } restore{tl_index, tl_in_part};
    for (int t = 0; t < p.size; ++t) {
      tl_index = t;
      tl_in_part = true;
      part(ctx, t);
    }
    return;
  }
  p.part = part;
  p.ctx = ctx;
  for (auto& e : p.errors) e = nullptr;
  p.pending.store(p.size - 1);
  p.generation.fetch_add(1);  // publishes the loop to the workers
  p.start.notify();
  run_part(p, 0);
  p.finish.wait([&] { return p.pending.load() == 0; });
  for (auto& e : p.errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace taper
