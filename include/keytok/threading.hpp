// keytok/threading.hpp: how llama.cpp's compute threads wait, so that two processes sharing a
// machine each get about their fair share of it.
//
// llama.cpp's CPU backend runs each graph on OpenMP threads (libgomp) that meet at a barrier
// after every operation, hundreds of times per token. By default libgomp spins at a barrier for
// 300,000 iterations before it sleeps. When two processes each run as many threads as the
// machine has cores, a spinning thread burns the time its partner needs to reach the barrier:
// on 2 cores, two keytok runs at once took a median 9x (up to 49x) as long as one alone, not 2x.
//
// keytok's default is GOMP_SPINCOUNT=1000: spin briefly, then sleep. Measured on 2 cores with
// Qwen2.5-Coder-0.5B (docs/results/contention.md): a run alone is as fast as with libgomp's
// default, two at once take about 2x as long as one alone. OMP_WAIT_POLICY=PASSIVE (never spin)
// shares as well but makes a run alone about 50% slower: each barrier then costs a wake-up.
//
// libgomp reads its settings once, when it is loaded, before main() runs: a setenv() in main()
// is too late, and one in the executable's .preinit_array is undone when libc initialises.
// So the keytok CLI starts with
//
//   int main(int argc, char** argv) {
//     keytok::reexec_with_omp_defaults(argc, argv);  // returns at once in the re-executed run
//     ...
//
// A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins, and then nothing is re-executed.
#pragma once

namespace keytok {

/// The spin count keytok sets for libgomp's barriers, in spin iterations (libgomp's: 300,000).
inline constexpr const char* kOmpSpinCount = "1000";

/// Whether the environment leaves libgomp's barrier waiting at its default (neither
/// OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set).
bool omp_wait_is_default();

/// For an executable's main(), before any thread exists: when omp_wait_is_default(), sets
/// GOMP_SPINCOUNT=kOmpSpinCount and re-executes the program (/proc/self/exe, same arguments and
/// standard streams), so that libgomp loads with it. Returns when nothing needs doing, or when
/// the re-exec failed (the run then goes on with libgomp's defaults). Costs one exec, a few
/// milliseconds. Linux only; elsewhere it returns at once.
void reexec_with_omp_defaults(int argc, char** argv);

}  // namespace keytok
