// Built-in task generators: determinism, independence of streams, and that every reference is
// the one correct output of its prompt (checked by re-deriving it from the prompt).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string_view>

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

std::string fmt_index(int n, int i) {
  char id[64];
  std::snprintf(id, sizeof id, "needle-%d-%03d", n, i);
  return id;
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

// ---------------------------------------------------------------------------------------------
// needle: passkey retrieval (opt-in family)

constexpr std::string_view kNeedleIntro =
    "There is important information hidden inside a lot of irrelevant text. Find it and "
    "memorize it; you will be asked about it.\n\n";
constexpr std::string_view kNeedleQuestion =
    "\n\nWhat is the pass key? Answer with the number only.";
const std::vector<std::string> kFiller = {"The grass is green.", "The sky is blue.",
                                          "The sun is yellow.", "Here we go.",
                                          "There and back again."};

// The haystack of a needle prompt (between the intro and the question), checked to be there.
std::string haystack_of(const Task& t) {
  EXPECT_EQ(t.prompt.rfind(kNeedleIntro, 0), 0u) << t.prompt;
  EXPECT_TRUE(t.prompt.size() > kNeedleIntro.size() + kNeedleQuestion.size() &&
              t.prompt.ends_with(kNeedleQuestion))
      << t.prompt;
  if (t.prompt.size() < kNeedleIntro.size() + kNeedleQuestion.size()) return "";
  return t.prompt.substr(kNeedleIntro.size(),
                         t.prompt.size() - kNeedleIntro.size() - kNeedleQuestion.size());
}

int occurrences(const std::string& text, const std::string& what) {
  int count = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) {
    ++count;
  }
  return count;
}

TEST(TaskGenNeedle, IsBuiltInButNotInTheDefaultSet) {
  const std::vector<std::string>& all = all_task_families();
  ASSERT_EQ(all.size(), builtin_task_families().size() + 1);
  EXPECT_TRUE(
      std::equal(builtin_task_families().begin(), builtin_task_families().end(), all.begin()));
  EXPECT_EQ(all.back(), "needle");
  auto defaults = generate({}, {4}, 2, 1);
  ASSERT_TRUE(defaults.ok());
  for (const Task& t : *defaults) EXPECT_NE(t.family, "needle") << t.id;
  auto named = generate({"needle"}, {4}, 2, 1);
  ASSERT_TRUE(named.ok()) << named.status().to_string();
  EXPECT_EQ(named->size(), 2u);
}

TEST(TaskGenNeedle, AddingNeedleLeavesTheOtherFamiliesByteIdentical) {
  auto without = generate({"copy", "add"}, {4, 16}, 3, 5);
  auto with = generate({"copy", "needle", "add"}, {4, 16}, 3, 5);
  ASSERT_TRUE(without.ok() && with.ok());
  std::vector<std::string> others;
  for (const Task& t : *with) {
    if (t.family != "needle") others.push_back(task_to_json_line(t));
  }
  ASSERT_EQ(others.size(), without->size());
  for (std::size_t i = 0; i < others.size(); ++i) {
    EXPECT_EQ(others[i], task_to_json_line((*without)[i]));
  }
}

TEST(TaskGenNeedle, DeterministicPerSeedAndGolden) {
  auto a = generate({"needle"}, {50, 300}, 10, 7);
  auto b = generate({"needle"}, {50, 300}, 10, 7);
  auto c = generate({"needle"}, {50, 300}, 10, 8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ(a->size(), 20u);
  int differ = 0;
  for (std::size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ(task_to_json_line((*a)[i]), task_to_json_line((*b)[i]));
    differ += (*a)[i].answer != (*c)[i].answer;
  }
  EXPECT_GT(differ, 15);
  // Guards cross-platform determinism: these must never change for a given seed.
  auto golden = generate({"needle"}, {4}, 2, 1);
  ASSERT_TRUE(golden.ok());
  EXPECT_EQ((*golden)[0].id, "needle-4-000");
  EXPECT_EQ((*golden)[1].id, "needle-4-001");
  EXPECT_EQ((*golden)[1].prompt,
            std::string(kNeedleIntro) + "The grass is green. The pass key is " +
                (*golden)[1].answer + ". Remember it. " + (*golden)[1].answer +
                " is the pass key. The sky is blue. The sun is yellow. Here we go." +
                std::string(kNeedleQuestion));
  EXPECT_EQ((*golden)[0].answer, "22285");
  EXPECT_EQ((*golden)[1].answer, "46581");
}

TEST(TaskGenNeedle, FieldsAndTheKeyAppearsExactlyTwice) {
  auto tasks = generate({"needle"}, {1, 7, 300, kMaxTaskLength}, 6, 3);
  ASSERT_TRUE(tasks.ok());
  for (const Task& t : *tasks) {
    SCOPED_TRACE(t.id);
    EXPECT_EQ(t.family, "needle");
    EXPECT_EQ(t.match, MatchMode::number);
    EXPECT_EQ(t.reference, t.answer);
    ASSERT_EQ(t.answer.size(), 5u);
    EXPECT_TRUE(std::all_of(t.answer.begin(), t.answer.end(),
                            [](char ch) { return ch >= '0' && ch <= '9'; }));
    EXPECT_NE(t.answer[0], '0');
    EXPECT_EQ(occurrences(t.prompt, t.answer), 2);
    EXPECT_EQ(integers_in(t.prompt).size(), 2u);  // no other number in the prompt
    EXPECT_EQ(occurrences(t.prompt, "The pass key is "), 1);
    // n filler sentences plus the needle's three.
    const std::string hay = haystack_of(t);
    EXPECT_EQ(occurrences(hay, ". ") + 1, t.length + 3);
  }
}

TEST(TaskGenNeedle, DepthFollowsTheIndex) {
  EXPECT_EQ(needle_position(8, 0), 0);
  EXPECT_EQ(needle_position(8, 1), 2);
  EXPECT_EQ(needle_position(8, 2), 4);
  EXPECT_EQ(needle_position(8, 3), 6);
  EXPECT_EQ(needle_position(8, 4), 8);
  EXPECT_EQ(needle_position(8, 5), 0);  // then again
  EXPECT_EQ(needle_position(8, 9), 8);
  EXPECT_EQ(needle_position(2, 1), 1);  // 0.5 rounds up
  EXPECT_EQ(needle_position(3, 1), 1);  // 0.75
  EXPECT_EQ(needle_position(3, 3), 2);  // 2.25
  EXPECT_EQ(needle_position(1, 2), 1);  // 0.5
  EXPECT_EQ(needle_position(300, 3), 225);
  EXPECT_EQ(needle_position(-1, 3), 0);
  EXPECT_EQ(needle_position(8, -1), 0);

  for (const int n : {1, 2, 3, 8, 13, 300}) {
    auto tasks = generate({"needle"}, {n}, 10, 11);
    ASSERT_TRUE(tasks.ok());
    for (int i = 0; i < 10; ++i) {
      const Task& t = (*tasks)[static_cast<std::size_t>(i)];
      SCOPED_TRACE(t.id);
      EXPECT_EQ(t.id, fmt_index(n, i));
      EXPECT_EQ(t.length, n);
      const std::string hay = haystack_of(t);
      const std::string needle =
          "The pass key is " + t.answer + ". Remember it. " + t.answer + " is the pass key.";
      const auto at = hay.find(needle);
      ASSERT_NE(at, std::string::npos);
      // The filler before and after the needle, cycling from the first sentence.
      const std::string before = at == 0 ? "" : hay.substr(0, at - 1);
      const std::string after =
          at + needle.size() == hay.size() ? "" : hay.substr(at + needle.size() + 1);
      std::string filler;
      for (int k = 0; k < n; ++k) filler += (k ? " " : "") + kFiller[k % 5];
      EXPECT_EQ(before + (before.empty() || after.empty() ? "" : " ") + after, filler);
      EXPECT_EQ(occurrences(before, "."), needle_position(n, i));
      if (i % 5 == 0) {
        EXPECT_EQ(at, 0u);
      }
      if (i % 5 == 4) {
        EXPECT_EQ(at + needle.size(), hay.size());
      }
      if (i % 5 == 2 && n == 8) {
        EXPECT_EQ(before, "The grass is green. The sky is blue. The sun is yellow. Here we go.");
      }
    }
  }
}

TEST(TaskGenNeedle, AnswersMatchPassKeyReplies) {
  auto tasks = generate({"needle"}, {20}, 1, 2);
  ASSERT_TRUE(tasks.ok());
  const Task& t = tasks->front();
  EXPECT_TRUE(answer_matches(t, t.answer));
  EXPECT_TRUE(answer_matches(t, "The pass key is " + t.answer + "."));
  EXPECT_TRUE(answer_matches(t, " " + t.answer + "\n"));
  EXPECT_TRUE(answer_matches(
      t, "The pass key is " + t.answer + ". Remember it. " + t.answer + " is the pass key."));
  EXPECT_EQ(extract_answer(t.match, "The pass key is " + t.answer + ".", &t), t.answer);
  EXPECT_FALSE(answer_matches(t, "The pass key is 12."));
  EXPECT_FALSE(answer_matches(t, "I do not know."));
  const std::string other = t.answer == "12345" ? "54321" : "12345";
  EXPECT_FALSE(answer_matches(t, "The pass key is " + other + "."));
  // The number mode reads the last number: a correct key followed by another number fails.
  EXPECT_FALSE(answer_matches(t, "The pass key is " + t.answer + ", not " + other + "."));
}

TEST(TaskGenNeedle, RoundTripsThroughATaskFile) {
  auto tasks = generate({"needle"}, {5, 40}, 5, 4);
  ASSERT_TRUE(tasks.ok());
  std::string text;
  for (const Task& t : *tasks) text += task_to_json_line(t) + "\n";
  auto back = parse_tasks(text, "needle");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->size(), tasks->size());
  for (std::size_t i = 0; i < tasks->size(); ++i) {
    EXPECT_EQ(task_to_json_line((*back)[i]), task_to_json_line((*tasks)[i]));
  }
}

}  // namespace
}  // namespace keytok
