// JSON conversions shared by the report writers (nlohmann stays out of public headers).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "keytok/analysis.hpp"

namespace keytok::detail {

nlohmann::ordered_json record_to_json(const TokenRecord& record);
nlohmann::ordered_json summary_to_json(const Analysis& analysis, const AnalysisSummary& summary);
/// Dumps with invalid UTF-8 replaced by U+FFFD; indent < 0 means one line.
std::string dump_json(const nlohmann::ordered_json& j, int indent);

}  // namespace keytok::detail
