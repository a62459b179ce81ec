// reexec_with_omp_defaults(): libgomp's barrier spin count must be in the environment before
// libgomp loads; see keytok/threading.hpp for the measurements behind the value.
#include <unistd.h>

#include <cstdlib>

#include "keytok/threading.hpp"

namespace keytok {

bool omp_wait_is_default() {
  return std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr;
}

void reexec_with_omp_defaults(int argc, char** argv) {
#if defined(__linux__)
  if (argc < 1 || !omp_wait_is_default()) return;
  if (::setenv("GOMP_SPINCOUNT", kOmpSpinCount, 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Only reached when exec failed (no /proc, say): carry on, with libgomp's defaults this time.
  ::unsetenv("GOMP_SPINCOUNT");
#else
  (void)argc;
  (void)argv;
#endif
}

}  // namespace keytok
