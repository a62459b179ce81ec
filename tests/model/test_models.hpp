// Model fixtures for tests labelled `model`: the GGUFs fetched by scripts/fetch_models.sh.
// A test whose model is absent skips with a message naming the fetch command.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>

#include "keytok/model.hpp"

namespace keytok::testing {

struct TestModel {
  std::string name;  // "smollm2", "gemma3", "qwen05" or "qwen15"
  std::string file;  // under models/
};

/// The models the model tests run on.
inline const TestModel kSmolLM2{"smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"};
inline const TestModel kGemma3{"gemma3", "gemma-3-270m-q4_k_m.gguf"};
/// The default model, a real instruction model (151,936 tokens).
inline const TestModel kQwen05{"qwen05", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"};
/// Its larger sibling (one tokenizer): the cascade tests' large model.
inline const TestModel kQwen15{"qwen15", "qwen2.5-coder-1.5b-instruct.gguf"};

/// Lets GoogleTest print a model parameter by name instead of its bytes.
inline void PrintTo(const TestModel& m, std::ostream* os) { *os << m.name; }

std::string model_path(const TestModel& m);
/// Loads once per process; nullptr when the file is absent.
std::shared_ptr<const Model> load_test_model(const TestModel& m);

/// Parameterised fixture: GetParam() is the model; model_ is loaded or the test skips.
class ModelTest : public ::testing::TestWithParam<TestModel> {
 protected:
  void SetUp() override;
  std::shared_ptr<const Model> model_;
};

std::string test_model_name(const ::testing::TestParamInfo<TestModel>& info);
std::string read_test_data(const std::string& name);

}  // namespace keytok::testing
