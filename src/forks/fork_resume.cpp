// What a resumed `keytok forks` must share with the run that started its file.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "keytok/forks.hpp"
#include "util/jsonl.hpp"

namespace keytok {

Status check_fork_settings(const ForkResults& results, const std::string& settings_json, const std::string& source) {
  const auto have = nlohmann::json::parse(results.settings_json, nullptr, /*allow_exceptions=*/false);
  const auto now = nlohmann::json::parse(settings_json, nullptr, /*allow_exceptions=*/false);
  if (have == now) return Status::ok_status();
  const std::string which = detail::first_differing_member(now, have);
  return Status::invalid_argument(fmt::format(
      "{} was started with other settings (settings.{} is {} in the file, {} now); resume with the same flags, "
      "or -o a new file",
      source, which, detail::member_text(have, which), detail::member_text(now, which)));
}

}  // namespace keytok
