#include "progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

namespace keytok::cli {

namespace {
std::string fmt_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = static_cast<long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}
}  // namespace

Progress::Progress(long total, std::string label, std::chrono::steady_clock::time_point start)
    : total_(total), label_(std::move(label)), enabled_(isatty(STDERR_FILENO) == 1),
      start_(start), last_draw_(start_) {
  if (enabled_) draw();
}

void Progress::tick() {
  ++done_;
  const auto now = std::chrono::steady_clock::now();
  if (enabled_ && (done_ == total_ || now - last_draw_ > std::chrono::milliseconds(100))) {
    last_draw_ = now;
    draw();
  }
}

void Progress::draw() {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
  constexpr int kWidth = 28;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done_ / total_) : kWidth;
  std::fprintf(stderr, "\r[%s%s] %ld/%ld %s  %.2f/s  ETA %s   ", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), done_, total_, label_.c_str(), rate,
               fmt_duration(eta).c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_) std::fputc('\n', stderr);
}

}  // namespace keytok::cli
