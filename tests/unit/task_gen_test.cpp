// Built-in task generators: determinism, independence of streams, and that every reference is
// the one correct output of its prompt (checked by re-deriving it from the prompt).
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>

#include "keytok/tasks.hpp"

namespace keytok {
namespace {

std::vector<std::string> split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string after_blank_line(const std::string& prompt) {
  const auto pos = prompt.rfind("\n\n");
  return pos == std::string::npos ? "" : prompt.substr(pos + 2);
}

// All integers written in the prompt, in order.
std::vector<long long> integers_in(const std::string& s) {
  std::vector<long long> out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] >= '0' && s[i] <= '9') {
      std::size_t j = i;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
      if (j - i <= 18) out.push_back(std::stoll(s.substr(i, j - i)));
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

Result<std::vector<Task>> generate(std::vector<std::string> families, std::vector<int> lengths,
                                   int per, std::uint64_t seed) {
  return generate_tasks({.families = std::move(families),
                         .lengths = std::move(lengths),
                         .per_length = per,
                         .seed = seed});
}

TEST(TaskGen, SameSeedSameTasksOtherSeedOtherTasks) {
  auto a = generate({}, {4, 16}, 5, 7);
  auto b = generate({}, {4, 16}, 5, 7);
  auto c = generate({}, {4, 16}, 5, 8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ(a->size(), builtin_task_families().size() * 2 * 5);
  int differ = 0;
  for (std::size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ(task_to_json_line((*a)[i]), task_to_json_line((*b)[i]));
    differ += (*a)[i].prompt != (*c)[i].prompt;
  }
  EXPECT_GT(differ, static_cast<int>(a->size()) * 3 / 4);
}

TEST(TaskGen, GoldenTasksForSeedOne) {
  // Guards cross-platform determinism: these strings must never change for a given seed.
  auto tasks = generate({"copy", "add"}, {4}, 1, 1);
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ((*tasks)[0].id, "copy-4-000");
  EXPECT_EQ((*tasks)[0].reference, "jewel apple puzzle magnet");
  EXPECT_EQ((*tasks)[1].id, "add-4-000");
  EXPECT_EQ((*tasks)[1].prompt,
            "Add these two 4-digit numbers: 8349 + 9891. Output only the sum, written as "
            "digits with no spaces or commas, nothing else.");
}

TEST(TaskGen, StreamsAreIndependentAndPerLengthOnlyAppends) {
  auto small = generate({"copy"}, {8}, 3, 5);
  auto wide = generate({"add", "copy"}, {4, 8}, 6, 5);
  ASSERT_TRUE(small.ok() && wide.ok());
  std::vector<std::string> copy8;
  for (const Task& t : *wide) {
    if (t.family == "copy" && t.length == 8) copy8.push_back(task_to_json_line(t));
  }
  ASSERT_EQ(copy8.size(), 6u);
  for (std::size_t i = 0; i < small->size(); ++i)
    EXPECT_EQ(task_to_json_line((*small)[i]), copy8[i]);
}

TEST(TaskGen, EveryReferenceIsTheCorrectOutput) {
  auto tasks = generate({}, {1, 4, 9, 17}, 4, 3);
  ASSERT_TRUE(tasks.ok());
  for (const Task& t : *tasks) {
    SCOPED_TRACE(t.id);
    EXPECT_EQ(t.match, MatchMode::exact);
    EXPECT_EQ(t.answer, t.reference);
    EXPECT_TRUE(answer_matches(t, " " + t.reference + "\n"));
    EXPECT_FALSE(answer_matches(t, t.reference + " x"));
    const std::vector<std::string> out = split(t.reference);
    const int n = t.length;
    if (t.family == "copy" || t.family == "reverse") {
      std::vector<std::string> shown = split(after_blank_line(t.prompt));
      ASSERT_EQ(static_cast<int>(shown.size()), n);
      if (t.family == "reverse") std::reverse(shown.begin(), shown.end());
      EXPECT_EQ(out, shown);
    } else if (t.family == "count") {
      const std::vector<long long> ab = integers_in(t.prompt);
      ASSERT_GE(ab.size(), 2u);
      ASSERT_EQ(static_cast<int>(out.size()), n);
      for (int i = 0; i < n; ++i) EXPECT_EQ(std::stoll(out[i]), ab[0] + i);
      EXPECT_EQ(ab[1], ab[0] + n - 1);
    } else if (t.family == "sequence") {
      const std::vector<long long> terms = integers_in(t.prompt);
      ASSERT_GE(terms.size(), 3u);
      const long long d = terms[1] - terms[0];
      EXPECT_EQ(terms[2] - terms[1], d);
      ASSERT_EQ(static_cast<int>(out.size()), n);
      for (int i = 0; i < n; ++i) EXPECT_EQ(std::stoll(out[i]), terms[0] + (i + 3) * d);
    } else if (t.family == "spell") {
      const std::string letters = after_blank_line(t.prompt);
      ASSERT_EQ(static_cast<int>(letters.size()), n);
      ASSERT_EQ(static_cast<int>(out.size()), n);
      for (int i = 0; i < n; ++i) EXPECT_EQ(out[i], std::string(1, letters[i]));
    } else if (t.family == "add") {
      const std::vector<long long> xy = integers_in(t.prompt.substr(t.prompt.find(':')));
      ASSERT_EQ(xy.size(), 2u);
      EXPECT_EQ(std::to_string(xy[0]).size(), static_cast<std::size_t>(n));
      EXPECT_EQ(std::to_string(xy[1]).size(), static_cast<std::size_t>(n));
      EXPECT_EQ(t.reference, std::to_string(xy[0] + xy[1]));
    } else {
      ADD_FAILURE() << "unexpected family " << t.family;
    }
  }
}

TEST(TaskGen, LongAdditionCarriesAcrossEveryDigit) {
  auto tasks = generate({"add"}, {64}, 3, 11);
  ASSERT_TRUE(tasks.ok());
  for (const Task& t : *tasks) {
    const std::string expr = t.prompt.substr(t.prompt.find(": ") + 2);
    const std::string x = expr.substr(0, 64), y = expr.substr(67, 64);
    // Check digit by digit with an independent schoolbook pass.
    std::string sum;
    int carry = 0;
    for (int i = 63; i >= 0; --i) {
      const int d = (x[i] - '0') + (y[i] - '0') + carry;
      sum.insert(sum.begin(), static_cast<char>('0' + d % 10));
      carry = d / 10;
    }
    if (carry) sum.insert(sum.begin(), '1');
    EXPECT_EQ(t.reference, sum);
  }
}

TEST(TaskGen, RejectsBadParameters) {
  EXPECT_FALSE(generate({"nope"}, {4}, 1, 1).ok());
  EXPECT_NE(generate({"nope"}, {4}, 1, 1).status().message().find("copy"), std::string::npos);
  EXPECT_FALSE(generate({}, {0}, 1, 1).ok());
  EXPECT_FALSE(generate({}, {kMaxTaskLength + 1}, 1, 1).ok());
  EXPECT_FALSE(generate({}, {}, 1, 1).ok());
  EXPECT_FALSE(generate({}, {4, 4}, 1, 1).ok());
  EXPECT_FALSE(generate({"copy", "copy"}, {4}, 1, 1).ok());
  EXPECT_FALSE(generate({}, {4}, 0, 1).ok());
}

TEST(TaskGen, IdsAreUniqueAndFilesRoundTrip) {
  auto tasks = generate({}, {4, 8}, 12, 2);
  ASSERT_TRUE(tasks.ok());
  std::string text;
  for (const Task& t : *tasks) text += task_to_json_line(t) + "\n";
  auto back = parse_tasks(text, "gen");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->size(), tasks->size());
}

}  // namespace
}  // namespace keytok
