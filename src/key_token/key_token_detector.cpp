// KeyTokenDetector: the flagging rule.
#include "keytok/key_token.hpp"

#include <fmt/format.h>

#include "util/enum_names.hpp"

namespace keytok {

namespace {

constexpr std::array<detail::EnumName<KeyRule>, 4> kKeyRules = {{
    {KeyRule::entropy, "entropy"},
    {KeyRule::margin, "margin"},
    {KeyRule::both, "both"},
    {KeyRule::either, "either"},
}};

}  // namespace

const char* key_rule_name(KeyRule rule) { return detail::enum_name(kKeyRules, rule, "entropy"); }

Result<KeyRule> parse_key_rule(const std::string& name) {
  if (auto r = detail::enum_from_name(kKeyRules, name)) return *r;
  return Status::invalid_argument("unknown key rule '" + name + "'; use " +
                                  detail::enum_name_list(kKeyRules));
}

Status KeyTokenParams::validate() const {
  if (!(entropy_threshold_nats >= 0.0f)) {
    return Status::invalid_argument("entropy threshold must be >= 0 nats");
  }
  if (!(margin_threshold >= 0.0f && margin_threshold <= 1.0f)) {
    return Status::invalid_argument("margin threshold must be in [0, 1]");
  }
  return Status::ok_status();
}

KeyTokenDetector::KeyTokenDetector(KeyTokenParams params, std::string source)
    : params_(params), source_(std::move(source)) {}

bool KeyTokenDetector::is_key(float entropy_nats, float margin) const {
  const bool high_entropy = entropy_nats >= params_.entropy_threshold_nats;
  const bool low_margin = margin <= params_.margin_threshold;
  switch (params_.rule) {
    case KeyRule::entropy: return high_entropy;
    case KeyRule::margin: return low_margin;
    case KeyRule::both: return high_entropy && low_margin;
    case KeyRule::either: return high_entropy || low_margin;
  }
  return false;
}

std::string KeyTokenDetector::describe() const {
  const std::string e = fmt::format("entropy >= {:.3f} nats", params_.entropy_threshold_nats);
  const std::string m = fmt::format("margin <= {:.3f}", params_.margin_threshold);
  switch (params_.rule) {
    case KeyRule::entropy: return e;
    case KeyRule::margin: return m;
    case KeyRule::both: return e + " and " + m;
    case KeyRule::either: return e + " or " + m;
  }
  return e;
}

}  // namespace keytok
