#include "model/test_models.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

namespace keytok::testing {

std::string model_path(const TestModel& m) { return std::string(KEYTOK_SOURCE_DIR) + "/models/" + m.file; }

std::shared_ptr<const Model> load_test_model(const TestModel& m) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Model>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(m.name);
  if (it != cache.end()) return it->second;
  std::shared_ptr<const Model> model;
  if (std::filesystem::exists(model_path(m))) {
    auto r = Model::load({.path = model_path(m)});
    if (r.ok()) model = *r;
  }
  cache[m.name] = model;
  return model;
}

void ModelTest::SetUp() {
  model_ = load_test_model(GetParam());
  if (!model_) {
    GTEST_SKIP() << "model " << model_path(GetParam())
                 << " is absent; run scripts/fetch_models.sh --tests";
  }
}

std::string test_model_name(const ::testing::TestParamInfo<TestModel>& info) { return info.param.name; }

std::string read_test_data(const std::string& name) {
  std::ifstream in(std::string(KEYTOK_SOURCE_DIR) + "/tests/data/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace keytok::testing
