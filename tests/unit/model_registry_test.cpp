// The known-model table (from data/models.tsv), -m resolution, and model-file identity.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "keytok/model_identity.hpp"
#include "keytok/model_registry.hpp"

namespace keytok {
namespace {

// Sets an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, old_.c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

std::string fresh_dir(const std::string& name) {
  const auto d = std::filesystem::path(::testing::TempDir()) / ("keytok_registry_" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

TEST(ModelRegistry, ListsTheFourModelsWithQwenAsDefault) {
  const auto models = known_models();
  ASSERT_EQ(models.size(), 4u);
  EXPECT_EQ(models[0].name, "qwen2.5-coder-0.5b");
  EXPECT_EQ(models[1].name, "qwen2.5-coder-1.5b");
  EXPECT_EQ(models[2].name, "smollm2-135m");
  EXPECT_EQ(models[3].name, "gemma3-270m");
  EXPECT_EQ(default_known_model().name, "qwen2.5-coder-0.5b");
  EXPECT_EQ(default_known_model().size_bytes, 491400064u);
  EXPECT_EQ(default_known_model().sha256, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32");
  EXPECT_TRUE(find_known_model("qwen2.5-coder-1.5b")->has_role("test"));
  EXPECT_FALSE(find_known_model("qwen2.5-coder-1.5b")->has_role("default"));
  EXPECT_EQ(find_known_model("gpt-5"), nullptr);
  EXPECT_EQ(find_known_model("gemma3-270m")->description,
            "Gemma 3 270M Q4_K_M (gemma3, 262,144 tokens; second architecture for tests)");
}

TEST(ModelRegistry, ResolvesNamesAndPaths) {
  const std::string dir = fresh_dir("resolve");
  ScopedEnv env("KEYTOK_MODELS_DIR", dir);
  EXPECT_EQ(models_dir(), dir);
  EXPECT_EQ(installed_path(*find_known_model("smollm2-135m")), dir + "/SmolLM2-135M-Instruct.Q4_1.gguf");

  // Paths pass through, whether or not they exist (loading reports a missing file).
  EXPECT_EQ(*resolve_model("/some/where/model.gguf"), "/some/where/model.gguf");
  EXPECT_EQ(*resolve_model("local.gguf"), "local.gguf");

  auto absent = resolve_model("qwen2.5-coder-1.5b");
  EXPECT_EQ(absent.status().code(), StatusCode::not_found);
  EXPECT_NE(absent.status().message().find("is not installed"), std::string::npos) << absent.status().message();
  EXPECT_NE(absent.status().message().find("run scripts/fetch_models.sh qwen2.5-coder-1.5b"), std::string::npos);

  std::ofstream(dir + "/qwen2.5-coder-1.5b-instruct.gguf") << "GGUF";
  EXPECT_EQ(*resolve_model("qwen2.5-coder-1.5b"), dir + "/qwen2.5-coder-1.5b-instruct.gguf");

  auto unknown = resolve_model("llama-9000");
  EXPECT_EQ(unknown.status().code(), StatusCode::not_found);
  EXPECT_NE(unknown.status().message().find(
                "known models: qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, smollm2-135m, gemma3-270m"),
            std::string::npos)
      << unknown.status().message();
  EXPECT_EQ(resolve_model("").status().code(), StatusCode::invalid_argument);
}

TEST(ModelRegistry, DefaultModelPathFollowsTheEnvironment) {
  const std::string dir = fresh_dir("default");
  ScopedEnv models("KEYTOK_MODELS_DIR", dir);
  {
    ScopedEnv model("KEYTOK_MODEL", "/elsewhere/mine.gguf");
    EXPECT_EQ(default_model_path(), "/elsewhere/mine.gguf");
  }
  ScopedEnv model("KEYTOK_MODEL", "");
  EXPECT_EQ(default_model_path(), dir + "/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

TEST(ModelIdentity, IsTheSha256OfTheBytesRememberedPerFile) {
  const std::string dir = fresh_dir("identity");
  ScopedEnv cache("KEYTOK_CACHE", dir + "/cache");
  EXPECT_EQ(cache_dir(), dir + "/cache");
  const std::string file = dir + "/model.gguf";
  std::ofstream(file) << "abc";
  // FIPS 180-2's test vector for "abc".
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  EXPECT_EQ(*file_sha256(file), abc);
  ASSERT_TRUE(std::filesystem::exists(dir + "/cache/identity"));
  ASSERT_EQ(std::distance(std::filesystem::directory_iterator(dir + "/cache/identity"), {}), 1);

  // A renamed or copied file has the same identity; relative and absolute paths agree.
  std::filesystem::copy_file(file, dir + "/copy.gguf");
  EXPECT_EQ(*file_sha256(dir + "/copy.gguf"), abc);

  // The memo is used while the file is unchanged: planting another digest in it shows up.
  const std::string planted(64, 'f');
  for (const auto& e : std::filesystem::directory_iterator(dir + "/cache/identity")) {
    std::string l[4];
    std::ifstream in(e.path());
    for (auto& x : l) std::getline(in, x);
    in.close();
    if (l[1] == std::filesystem::absolute(file).string()) {
      std::ofstream(e.path()) << l[0] << '\n' << l[1] << '\n' << l[2] << '\n' << planted << '\n';
    }
  }
  EXPECT_EQ(*file_sha256(file), planted);

  // A changed file (new size and modification time) is hashed again.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::ofstream(file) << "abcd";
  EXPECT_EQ(*file_sha256(file), "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");

  EXPECT_EQ(file_sha256(dir + "/absent.gguf").status().code(), StatusCode::not_found);
}

}  // namespace
}  // namespace keytok
