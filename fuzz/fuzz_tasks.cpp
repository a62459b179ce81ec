// Task files (keytok/tasks.hpp parse_tasks): keytok JSONL with an optional header, or GSM8K's
// own lines. Invariants: an error names the file; a parsed list has unique non-empty ids and
// answers, and writing it out (task_to_json_line) reads back to the same tasks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "keytok/tasks.hpp"

namespace {

bool same(const keytok::Task& a, const keytok::Task& b) {
  return a.id == b.id && a.prompt == b.prompt && a.answer == b.answer && a.match == b.match &&
         a.family == b.family && a.length == b.length && a.reference == b.reference;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source = "fuzz-tasks.jsonl";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tasks = keytok::parse_tasks(text, source);
  if (keytok::fuzz::failed(tasks, source)) return 0;
  FUZZ_CHECK(!tasks->empty(), "a successful parse has tasks");
  std::string again;
  for (const keytok::Task& t : *tasks) {
    FUZZ_CHECK(!t.id.empty() && !t.answer.empty(), t.id);
    FUZZ_CHECK(t.length >= 0, t.id);
    again += keytok::task_to_json_line(t) + "\n";
  }
  auto back = keytok::parse_tasks(again, source);
  FUZZ_CHECK(back.ok(), back.status().message());
  FUZZ_CHECK(back->size() == tasks->size(), "round trip keeps every task");
  for (std::size_t i = 0; i < tasks->size(); ++i) {
    FUZZ_CHECK(same((*tasks)[i], (*back)[i]), (*tasks)[i].id);
  }
  return 0;
}
