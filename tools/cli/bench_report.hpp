// keytok bench's final table and plot (rows, results file and summary: keytok/bench.hpp).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "keytok/bench.hpp"

namespace keytok::cli {

void print_bench_table(const std::vector<BenchSummary>& s, std::ostream& out);
/// A self-contained page with an accuracy-against-tokens SVG plot and the table.
void write_bench_html(const std::vector<BenchSummary>& s, const std::string& title, std::ostream& out);

}  // namespace keytok::cli
