// A one-line progress bar with rate and ETA on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <string>

namespace keytok::cli {

class Progress {
 public:
  /// total: units to do in this run; label: what a unit is ("trials"); start: when the work
  /// began (for the rate and ETA), by default now.
  Progress(long total, std::string label,
           std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now());
  /// Marks one more unit done and redraws (at most ~10 times a second).
  void tick();
  /// Units marked done so far.
  long done() const { return done_; }
  /// Ends the line (when drawing).
  void finish();

 private:
  void draw();
  long total_;
  long done_ = 0;
  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace keytok::cli
