// `keytok --version`: versions and the CPU features the build uses. The default build must run
// on any x86-64 CPU; the pinned llama.cpp's AMX path crashes on CPUs that have AMX, so a build
// without KEYTOK_AMX must not list it (docs/build.md).
#include <gtest/gtest.h>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

TEST(CliVersion, PrintsVersionsAndCpuBuild) {
  const CliRun r = run_keytok({"--version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("keytok " KEYTOK_VERSION "\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nllama.cpp "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nCPU build: "), std::string::npos) << r.out;
  // A loaded CPU backend reports at least its baseline features.
  EXPECT_NE(r.out.find("\nCPU features: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("none reported"), std::string::npos) << r.out;
}

TEST(CliVersion, DefaultBuildDoesNotUseAmx) {
  const CliRun r = run_keytok({"--version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  if (KEYTOK_AMX_ALLOWED) {
    EXPECT_NE(r.out.find("AMX allowed"), std::string::npos) << r.out;
  } else {
    EXPECT_NE(r.out.find("AMX off"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("AMX_"), std::string::npos) << "this build uses AMX:\n" << r.out;
  }
}

}  // namespace
}  // namespace keytok::testing
