// The built-in task families: each makes a prompt with an exact output format and the one
// correct output, whose length grows with n. Prompts are written for small instruct models:
// they state the separator and say "Output only ..., nothing else". The opt-in `needle` family
// is the exception: n sizes its prompt (passkey retrieval), and its answer is one number.
#include "tasks/task_families.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

#include "keytok/tasks.hpp"

namespace keytok::detail {
namespace {

// Common short English nouns, each usually one or two tokens. Order is part of the generated
// files' reproducibility: append only.
constexpr std::array<std::string_view, 160> kWords = {
    "apple",   "river",   "stone",  "cloud",  "table",    "garden", "horse",  "window",  "candle",
    "bread",   "forest",  "bridge", "mirror", "pencil",   "rabbit", "silver", "tiger",   "violin",
    "wagon",   "yellow",  "anchor", "basket", "castle",   "desert", "engine", "feather", "guitar",
    "hammer",  "island",  "jacket", "kettle", "lemon",    "magnet", "needle", "orange",  "pepper",
    "quartz",  "rocket",  "saddle", "tunnel", "umbrella", "valley", "walnut", "zebra",   "acorn",
    "beach",   "cabin",   "daisy",  "eagle",  "fence",    "glove",  "harbor", "igloo",   "jelly",
    "koala",   "ladder",  "meadow", "nickel", "otter",    "parrot", "quilt",  "raven",   "shell",
    "thumb",   "uncle",   "velvet", "whale",  "yarn",     "arrow",  "button", "cherry",  "dragon",
    "ember",   "falcon",  "ginger", "hazel",  "ivory",    "jungle", "kitten", "lantern", "marble",
    "nectar",  "oyster",  "pillow", "rain",   "spoon",    "thread", "vessel", "willow",  "bottle",
    "carpet",  "dolphin", "elbow",  "finger", "goose",    "helmet", "insect", "jewel",   "kernel",
    "lizard",  "muffin",  "noodle", "olive",  "puzzle",   "ribbon", "salmon", "tomato",  "wallet",
    "barrel",  "cactus",  "donkey", "flute",  "grape",    "hollow", "iron",   "jar",     "kite",
    "lobster", "maple",   "nest",   "onion",  "pebble",   "rose",   "sponge", "tulip",   "wheat",
    "bucket",  "copper",  "drum",   "frost",  "goat",     "honey",  "ink",    "lake",    "moon",
    "nut",     "owl",     "piano",  "road",   "sand",     "train",  "vine",   "wolf",    "bell",
    "coin",    "duck",    "fish",   "gate",   "hill",     "lamp",   "mouse",  "oak",     "pear",
    "ship",    "tree",    "wind",   "boat",   "corn",     "door",   "frog"};

const char* plural(int n) { return n == 1 ? "" : "s"; }

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

// n words, no word twice in a row (a doubled word makes "copy" ambiguous to read).
std::vector<std::string> random_words(int n, TaskRng& rng) {
  std::vector<std::string> words;
  std::size_t prev = kWords.size();
  for (int i = 0; i < n; ++i) {
    std::size_t w = rng.below(kWords.size());
    if (w == prev) w = (w + 1 + rng.below(kWords.size() - 1)) % kWords.size();
    words.emplace_back(kWords[w]);
    prev = w;
  }
  return words;
}

std::string random_digits(int n, TaskRng& rng) {
  std::string digits;
  for (int i = 0; i < n; ++i) {
    digits += static_cast<char>('0' + (i == 0 ? rng.between(1, 9) : rng.between(0, 9)));
  }
  return digits;
}

std::string add_decimal(const std::string& x, const std::string& y) {
  std::string sum;
  int carry = 0;
  for (std::size_t i = 0; i < std::max(x.size(), y.size()) || carry; ++i) {
    int d = carry;
    if (i < x.size()) d += x[x.size() - 1 - i] - '0';
    if (i < y.size()) d += y[y.size() - 1 - i] - '0';
    sum += static_cast<char>('0' + d % 10);
    carry = d / 10;
  }
  return {sum.rbegin(), sum.rend()};
}

TaskText copy_task(int n, TaskRng& rng) {
  const std::string words = join(random_words(n, rng), " ");
  return {fmt::format("Repeat the following {} word{} exactly, in the same order, separated by "
                      "single spaces. Output only the words, nothing else.\n\n{}",
                      n, plural(n), words),
          words};
}

TaskText reverse_task(int n, TaskRng& rng) {
  std::vector<std::string> words = random_words(n, rng);
  const std::string shown = join(words, " ");
  std::reverse(words.begin(), words.end());
  return {fmt::format("Write the following {} word{} in reverse order, from the last word to the "
                      "first, separated by single spaces. Output only the words, nothing "
                      "else.\n\n{}",
                      n, plural(n), shown),
          join(words, " ")};
}

TaskText count_task(int n, TaskRng& rng) {
  const int a = rng.between(1, 500);
  std::vector<std::string> numbers;
  for (int i = 0; i < n; ++i) numbers.push_back(std::to_string(a + i));
  return {fmt::format("Count from {0} to {1}: write every whole number from {0} to {1} in "
                      "increasing order, separated by single spaces. Output only the numbers, "
                      "nothing else.",
                      a, a + n - 1),
          join(numbers, " ")};
}

TaskText sequence_task(int n, TaskRng& rng) {
  const int a = rng.between(1, 50);
  const int d = rng.between(2, 12);
  std::vector<std::string> terms;
  for (int i = 3; i < n + 3; ++i) terms.push_back(std::to_string(a + i * d));
  return {fmt::format("Here is the start of an arithmetic sequence: {} {} {}. Write the next {} "
                      "number{} of the sequence, separated by single spaces. Output only those "
                      "numbers, nothing else.",
                      a, a + d, a + 2 * d, n, plural(n)),
          join(terms, " ")};
}

TaskText spell_task(int n, TaskRng& rng) {
  std::string letters;
  std::vector<std::string> spelled;
  for (int i = 0; i < n; ++i) {
    const char c = static_cast<char>('a' + rng.below(26));
    letters += c;
    spelled.emplace_back(1, c);
  }
  return {fmt::format("Spell the following string of {} letter{} one letter at a time, with a "
                      "single space between letters. Output only the letters, nothing "
                      "else.\n\n{}",
                      n, plural(n), letters),
          join(spelled, " ")};
}

TaskText add_task(int n, TaskRng& rng) {
  const std::string x = random_digits(n, rng);
  const std::string y = random_digits(n, rng);
  return {fmt::format("Add these two {}-digit numbers: {} + {}. Output only the sum, written as "
                      "digits with no spaces or commas, nothing else.",
                      n, x, y),
          add_decimal(x, y)};
}

// The passkey retrieval test's filler (Mohtashami & Jaggi 2023; llama.cpp's passkey example),
// one sentence per item, used in this cyclic order.
constexpr std::array<std::string_view, 5> kNeedleFiller = {"The grass is green.",
                                                           "The sky is blue.", "The sun is yellow.",
                                                           "Here we go.", "There and back again."};

// n filler sentences with the needle after needle_position(n, index) of them (tasks.hpp).
TaskText needle_task(int n, int index, TaskRng& rng) {
  const std::string key = std::to_string(rng.between(10000, 99999));
  const int before = needle_position(n, index);
  std::string haystack;
  auto add = [&haystack](std::string_view sentence) {
    if (!haystack.empty()) haystack += ' ';
    haystack += sentence;
  };
  for (int i = 0; i <= n; ++i) {
    if (i == before) {
      add(fmt::format("The pass key is {0}. Remember it. {0} is the pass key.", key));
    }
    if (i < n) add(kNeedleFiller[static_cast<std::size_t>(i) % kNeedleFiller.size()]);
  }
  return {fmt::format("There is important information hidden inside a lot of irrelevant text. "
                      "Find it and memorize it; you will be asked about it.\n\n{}\n\nWhat is the "
                      "pass key? Answer with the number only.",
                      haystack),
          key, MatchMode::number};
}

}  // namespace

TaskText make_family_task(std::string_view family, int n, int index, TaskRng& rng) {
  if (family == "needle") return needle_task(n, index, rng);
  if (family == "copy") return copy_task(n, rng);
  if (family == "reverse") return reverse_task(n, rng);
  if (family == "count") return count_task(n, rng);
  if (family == "sequence") return sequence_task(n, rng);
  if (family == "spell") return spell_task(n, rng);
  return add_task(n, rng);  // "add"; generate_tasks validated the name
}

}  // namespace keytok::detail
