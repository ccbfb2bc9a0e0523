// taper sweep GRID.json --out DIR [--jobs J] [--threads T] — runs every cell
// of a grid (apps/grid.h, docs/sweep.md) as an ordinary `taper train` run
// folder DIR/<cell>, each in a child process of this same program, then
// writes the report (apps/report.h). Finished cells (result.json present,
// settings equal) are skipped and interrupted ones resumed, so a sweep can
// be killed (even with SIGKILL) and started again any number of times.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <thread>

#include "apps/args.h"
#include "apps/files.h"
#include "apps/grid.h"
#include "apps/report.h"
#include "engine/comm.h"
#include "engine/error.h"

namespace taper::app {

using json = nlohmann::json;

namespace {

const char* kUsage =
    "usage: taper sweep GRID.json --out DIR [--jobs J] [--threads T] [--list]\n"
    "  Runs every cell of the grid (models x data x policies x widths x seeds, the\n"
    "  format is in docs/sweep.md) as a `taper train` run folder DIR/<cell>, in a\n"
    "  child process each (its output in DIR/<cell>/train.log), then writes the\n"
    "  report (`taper report DIR`). Finished cells are skipped, interrupted ones\n"
    "  resumed: run the same command again after a kill.\n"
    "  --out DIR      the sweep folder (created)\n"
    "  --jobs J       runs at once (default 1)\n"
    "  --threads T    threads per run (default: the cores / J); J x T must not exceed\n"
    "                 the cores\n"
    "  --list         check the grid and print its cells (name, width), run nothing\n";

json read_json(const std::string& path) {
  std::ifstream f(path);
  try {
    return json::parse(f);
  } catch (const json::exception&) {
    return json();  // unreadable: treated as "other settings" by the caller
  }
}

enum class State { Finished, Resume, Fresh };

// What to do with a cell's folder; throws when it holds another run.
State state_of(const GridCell& c, int threads) {
  const std::string dir = c.config.out;
  if (!file_exists(dir + "/config.json")) return State::Fresh;
  json recorded = read_json(dir + "/config.json");
  if (!same_settings(recorded, c.config))
    fail(dir, " holds a run with other settings than the grid's cell ", c.name,
         " (its config.json differs): remove that folder or choose another --out");
  if (file_exists(dir + "/result.json")) return State::Finished;
  if (!file_exists(dir + "/last.safetensors")) return State::Fresh;  // killed in its first epoch
  if (recorded.value("threads", 0) > threads)
    fail(dir, " was started with ", recorded.value("threads", 0), " threads and resumes with them: give --threads ",
         recorded.value("threads", 0), " or more (and fewer --jobs)");
  return State::Resume;
}

// Starts `taper train` for a cell as a child process; its output goes to
// <cell>/train.log. The child dies with the sweep (PR_SET_PDEATHSIG), so a
// killed sweep leaves no run writing into its folders.
pid_t launch(const GridCell& c, State s) {
  const std::string dir = c.config.out;
  make_dirs(dir);
  const std::string run_file = dir + "/run.json";
  if (s == State::Fresh) write_file_atomic(run_file, c.config.to_json().dump(2) + "\n");
  const std::string log = dir + "/train.log";
  std::vector<std::string> argv_s = {"taper", "train"};
  if (s == State::Resume) argv_s.insert(argv_s.end(), {"--resume", dir});
  else argv_s.insert(argv_s.end(), {"--run", run_file});
  const pid_t parent = getpid();
  const std::string self = self_executable();  // resolved before fork: the child only execs
  pid_t pid = fork();
  if (pid < 0) fail("cannot start a run: fork failed: ", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the sweep died before prctl
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // Each run is a plain single process, also when the sweep itself runs
    // under mpirun: without the launcher's variables it does not join MPI.
    for (const char* prefix : {"OMPI_", "PMIX_", "PMI_"})
      for (bool again = true; again;) {
        again = false;
        for (char** e = environ; *e; ++e)
          if (std::strncmp(*e, prefix, std::strlen(prefix)) == 0) {
            const std::string name(*e, std::strchr(*e, '=') - *e);
            unsetenv(name.c_str());
            again = true;
            break;
          }
      }
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    std::fprintf(stderr, "taper sweep: cannot run %s: %s\n", self.c_str(), std::strerror(errno));
    _exit(127);
  }
  return pid;
}

}  // namespace

int cmd_sweep(int argc, char** argv) {
  Args args(argc, argv, {"--list"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the grid file");
  const bool list_only = args.flag("--list");
  auto out = args.get("--out");
  if (!out && !list_only) fail("give --out DIR: the folder the sweep's runs go to");
  // Under mpirun the ranks on one machine share its cores.
  const int cores =
      std::max(1, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) / comm_local_size());
  const int jobs = static_cast<int>(args.get_int("--jobs", 1, 1, 256));
  const int threads = static_cast<int>(args.get_int("--threads", std::max(1, cores / jobs), 1, 256));
  args.finish();
  if (jobs * threads > cores)
    fail("--jobs ", jobs, " x --threads ", threads, " = ", jobs * threads, " threads exceed the ", cores,
         " cores of this machine: lower --jobs or --threads");
  std::string dir = out ? *out : "DIR";
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string grid_path = args.positional()[0];
  Grid grid = read_grid(grid_path, dir, threads);
  if (list_only) {
    std::printf("grid %s: %zu runs\n", grid.name.c_str(), grid.cells.size());
    for (const auto& c : grid.cells) std::printf("%s  width %g\n", c.name.c_str(), c.config.width);
    return 0;
  }

  // Every cell's state is checked before anything runs.
  std::vector<State> states;
  for (const auto& c : grid.cells) states.push_back(state_of(c, threads));

  // Rank 0 (the only process without mpirun) owns the folder: the lock and
  // grid.json; the other ranks start once it has them.
  int lock = -1;
  if (comm_is_root()) {
    make_dirs(dir);
    const std::string lock_path = dir + "/.sweep.lock";
    lock = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);  // not held by the runs
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0)
      fail(dir, ": another `taper sweep` is running in this folder (", lock_path, " is locked)");
    std::ifstream g(grid_path);
    std::string text((std::istreambuf_iterator<char>(g)), std::istreambuf_iterator<char>());
    write_file_atomic(dir + "/grid.json", text);
  }
  comm_barrier();

  // Under mpirun, rank r runs the cells i with i % N == r (each run single-rank).
  std::deque<size_t> todo;
  int finished = 0;
  for (size_t i = 0; i < grid.cells.size(); ++i)
    if (states[i] == State::Finished) ++finished;
    else if (static_cast<int>(i % comm_size()) == comm_rank()) todo.push_back(i);
  std::printf("sweep %s: %zu runs, %d finished, %zu to run (%d at once, %d threads each) in %s\n",
              grid.name.c_str(), grid.cells.size(), finished, todo.size(), jobs, threads, dir.c_str());
  if (comm_size() > 1)
    std::printf("spread over %d ranks (rank r runs cells r, r + %d, ...; ranks other than 0 report on stderr)\n",
                comm_size(), comm_size());
  std::fflush(stdout);
  // Rank 0 speaks on stdout; the others' per-run lines go to stderr, tagged.
  FILE* say = comm_is_root() ? stdout : stderr;
  const std::string tag = comm_size() > 1 ? "[rank " + std::to_string(comm_rank()) + "] " : "";

  std::map<pid_t, size_t> running;
  std::vector<std::string> failed;
  while (!todo.empty() || !running.empty()) {
    while (!todo.empty() && static_cast<int>(running.size()) < jobs) {
      const size_t i = todo.front();
      todo.pop_front();
      pid_t pid = launch(grid.cells[i], states[i]);
      running[pid] = i;
      std::fprintf(say, "%sstart  %s%s\n", tag.c_str(), grid.cells[i].name.c_str(),
                   states[i] == State::Resume ? " (resume)" : "");
      std::fflush(say);
    }
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      fail("waiting for the runs failed: ", std::strerror(errno));
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const GridCell& c = grid.cells[it->second];
    running.erase(it);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && file_exists(c.config.out + "/result.json");
    if (ok) {
      json r = read_json(c.config.out + "/result.json");
      ++finished;
      std::fprintf(say, "%sdone   %s: test at best val %.2f%%, %.0f s\n", tag.c_str(), c.name.c_str(),
                   100.0 * r.value("test_acc_at_best", 0.0), r.value("seconds", 0.0));
    } else {
      failed.push_back(c.name);
      std::string why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                        : WEXITSTATUS(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                              : "it exited without result.json";
      std::fprintf(say, "%sFAILED %s: %s; see %s/train.log\n", tag.c_str(), c.name.c_str(), why.c_str(),
                   c.config.out.c_str());
    }
    std::fflush(say);
  }

  // Every rank's runs are done before rank 0 reports; failures are counted over all ranks.
  int64_t failures = static_cast<int64_t>(failed.size());
  allreduce_sum(&failures, 1);
  comm_barrier();
  if (!comm_is_root()) return failures ? 1 : 0;

  ReportCounts rc = write_report(dir);
  std::printf("report: %d finished runs, %d configurations: %s/results.csv, summary.md, pareto.png, curves.png%s\n",
              rc.finished, rc.configurations, dir.c_str(), rc.bits_plot ? ", bits.png" : "");
  if (failures) {
    std::printf("%lld runs failed (run the sweep again to retry them)", static_cast<long long>(failures));
    for (const auto& f : failed) std::printf(" %s", f.c_str());
    if (failures > static_cast<int64_t>(failed.size())) std::printf(" (the others: see the ranks' stderr)");
    std::printf("\n");
    return 1;
  }
  return 0;
}

}  // namespace taper::app
