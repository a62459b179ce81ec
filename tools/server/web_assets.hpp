// The web viewer's files, embedded at build time from web/ (cmake/KeytokWeb.cmake).
#pragma once

#include <string_view>

namespace keytok::server {

struct WebAsset {
  std::string_view name;          // "index.html"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

/// The embedded file called `name` (no directories), or nullptr.
const WebAsset* find_web_asset(std::string_view name);

/// The content type keytok serves a file of this name with.
std::string_view web_content_type(std::string_view name);

}  // namespace keytok::server
