// ResultsWriter: flushed, resumable appends to JSON-lines results files.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "keytok/results_file.hpp"

namespace keytok {

void ResultsWriter::Closer::operator()(std::FILE* f) const {
  if (f != nullptr) std::fclose(f);
}

Status cut_partial_last_line(const std::string& path) {
  std::error_code ec;
  // Only a regular file can hold a cut-off line (and reading a device such as /dev/full never ends).
  if (!std::filesystem::is_regular_file(path, ec)) return Status::ok_status();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error(fmt::format("cannot read {}; check its permissions", path));
  const std::string body(std::istreambuf_iterator<char>(in), {});
  in.close();
  const std::size_t last_nl = body.find_last_of('\n');
  const std::size_t keep = last_nl == std::string::npos ? 0 : last_nl + 1;
  if (keep == body.size()) return Status::ok_status();
  std::filesystem::resize_file(path, keep, ec);
  if (ec) {
    return Status::io_error(
        fmt::format("cannot cut the partial last line of {}: {}", path, ec.message()));
  }
  return Status::ok_status();
}

Result<ResultsWriter> ResultsWriter::open(const std::string& path, std::string_view header_line) {
  KEYTOK_RETURN_IF_ERROR(cut_partial_last_line(path));
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0;
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (f == nullptr) {
    return Status::io_error(fmt::format("cannot write {}: {}; check the directory exists and is "
                                        "writable",
                                        path, std::strerror(errno)));
  }
  ResultsWriter writer(path, f);
  if (fresh) KEYTOK_RETURN_IF_ERROR(writer.append(header_line));
  return writer;
}

Status ResultsWriter::append(std::string_view line) {
  std::FILE* f = file_.get();
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() &&
                  std::fputc('\n', f) != EOF && std::fflush(f) == 0;
  if (!ok) {
    const int err = errno;
    std::clearerr(f);
    return Status::io_error(fmt::format("writing {} failed: {} (disk full?); the rows written before "
                                        "are intact, and --resume continues after them",
                                        path_, std::strerror(err)));
  }
  return Status::ok_status();
}

}  // namespace keytok
