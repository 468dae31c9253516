#include "eval/normalize.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "base/error.h"

namespace vrwkv::eval {

namespace {

namespace fs = std::filesystem;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The contraction table of the VQA tool: a word written without its apostrophe(s) and the spelling
// it is turned into. Keys with capitals ("Im") never match after lower-casing; they are kept so the
// table reads as the tool's does.
const std::map<std::string, std::string>& contractions() {
  static const std::map<std::string, std::string> table = {
      {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
      {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
      {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
      {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"}, {"havent", "haven't"},
      {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"}, {"hes", "he's"}, {"howd", "how'd"},
      {"howll", "how'll"}, {"hows", "how's"}, {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"},
      {"Ive", "I've"}, {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"},
      {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"},
      {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"}, {"mightve", "might've"},
      {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"}, {"notve", "not've"},
      {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"},
      {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"}, {"she'dve", "she'd've"},
      {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
      {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
      {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
      {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
      {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
      {"somethingd", "something'd"}, {"somethingd've", "something'd've"},
      {"something'dve", "something'd've"}, {"somethingll", "something'll"}, {"thats", "that's"},
      {"thered", "there'd"}, {"thered've", "there'd've"}, {"there'dve", "there'd've"},
      {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
      {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"}, {"theyve", "they've"},
      {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"}, {"we'dve", "we'd've"},
      {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"},
      {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"}, {"whered", "where'd"},
      {"wheres", "where's"}, {"whereve", "where've"}, {"whod", "who'd"}, {"whod've", "who'd've"},
      {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"},
      {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"},
      {"wouldve", "would've"}, {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"},
      {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
      {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"},
      {"youd", "you'd"}, {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"},
      {"youre", "you're"}, {"youve", "you've"},
  };
  return table;
}

const std::map<std::string, std::string>& number_words() {
  static const std::map<std::string, std::string> table = {
      {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"},   {"three", "3"}, {"four", "4"},
      {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"},
  };
  return table;
}

const char kPunctuation[] = {';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+',
                             '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'};

// Whether the text holds a comma between two digits: exactly one comma (the VQA tool), or a run of
// commas (the EvalAI processor).
bool has_comma_between_digits(const std::string& s, bool multi_comma) {
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] != ',' || !is_digit(s[i - 1])) continue;
    size_t j = i + 1;
    if (multi_comma)
      while (j < s.size() && s[j] == ',') ++j;
    if (j < s.size() && is_digit(s[j])) return true;
  }
  return false;
}

}  // namespace

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || (c >= 0x1c && c <= 0x1f);
}

std::string py_strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_py_space(s[b])) ++b;
  while (e > b && is_py_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> py_split(const std::string& s) {
  std::vector<std::string> out;
  std::string word;
  for (char c : s) {
    if (is_py_space(c)) {
      if (!word.empty()) out.push_back(std::move(word)), word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

std::string vqa_punctuation(const std::string& text, bool multi_comma) {
  // The tests look at the text as it came in; the changes pile up in `out`.
  const bool digit_comma = has_comma_between_digits(text, multi_comma);
  std::string out = text;
  for (char p : kPunctuation) {
    const std::string ps(1, p);
    const bool beside_space = text.find(ps + " ") != std::string::npos || text.find(" " + ps) != std::string::npos;
    out = eval::text::replace_all(out, ps, (beside_space || digit_comma) ? "" : " ");
  }
  // A period goes unless a digit follows it. The tool passes re.UNICODE where re.sub takes its
  // count, so at most 32 periods are deleted.
  std::string stripped;
  int deleted = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '.' && deleted < 32 && !(i + 1 < out.size() && is_digit(out[i + 1]))) {
      ++deleted;
      continue;
    }
    stripped += out[i];
  }
  return stripped;
}

std::string vqa_digit_article(const std::string& text) {
  std::vector<std::string> words;
  for (auto& w : py_split(eval::text::lower_ascii(text))) {
    auto n = number_words().find(w);
    if (n != number_words().end()) w = n->second;
    if (w == "a" || w == "an" || w == "the") continue;
    words.push_back(w);
  }
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    auto c = contractions().find(words[i]);
    out += (i ? " " : "") + (c == contractions().end() ? words[i] : c->second);
  }
  return out;
}

std::string evalai_normalize(const std::string& answer) {
  std::string s = eval::text::lower_ascii(answer);
  s = eval::text::replace_all(text::replace_all(eval::text::replace_all(s, ",", ""), "?", ""), "'s", " 's");
  s = py_strip(s);
  s = py_strip(eval::text::replace_all(text::replace_all(s, "\n", " "), "\t", " "));
  s = vqa_punctuation(s, /*multi_comma=*/true);
  return vqa_digit_article(s);
}

std::string vqa_normalize_prediction(const std::string& answer) {
  const std::string s = py_strip(eval::text::replace_all(text::replace_all(answer, "\n", " "), "\t", " "));
  return vqa_digit_article(vqa_punctuation(s));
}

double leave_one_out_accuracy(const std::string& prediction, const std::vector<std::string>& humans) {
  if (humans.empty()) return 0.0;
  size_t matches = 0;
  for (const auto& h : humans) matches += (h == prediction);
  double sum = 0;
  for (const auto& h : humans) {
    const size_t others = matches - (h == prediction ? 1 : 0);
    sum += std::min(1.0, static_cast<double>(others) / 3.0);
  }
  return sum / static_cast<double>(humans.size());
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  const std::string body = text::read_file(path, what);
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(path, ": the ", what, " is not valid JSON (", e.what(), ")"));
  }
}

std::vector<QuestionRef> read_question_refs(const std::string& path) {
  std::vector<QuestionRef> out;
  text::for_each_json_line<nlohmann::json>(path, "question file", [&](const nlohmann::json& record,
                                                                      const std::string& where) {
    QuestionRef q;
    q.where = where;
    VRWKV_CHECK(record.is_object() && record.contains("question_id"), q.where,
                ": a question line needs \"question_id\"");
    q.question_id = record["question_id"];
    if (record.contains("image")) {
      VRWKV_CHECK(record["image"].is_string(), q.where, ": \"image\" must be a string");
      q.image = record["image"].get<std::string>();
    }
    if (record.contains("text") && record["text"].is_string()) q.text = record["text"].get<std::string>();
    out.push_back(std::move(q));
  });
  return out;
}

std::string answer_image_file(const nlohmann::ordered_json& record) {
  auto string_at = [](const nlohmann::ordered_json& obj, const char* key) -> std::string {
    if (obj.is_object() && obj.contains(key) && obj[key].is_string()) return obj[key].get<std::string>();
    return "";
  };
  if (record.contains("metadata")) {
    const auto& m = record["metadata"];
    if (auto s = string_at(m, "image_file"); !s.empty()) return s;
    if (auto s = string_at(m, "image"); !s.empty()) return s;
  }
  return string_at(record, "image");
}

std::string file_name(const std::string& path) {
  const auto slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string file_stem(const std::string& path) {
  const std::string name = file_name(path);
  const auto dot = name.rfind('.');
  return (dot == std::string::npos || dot == 0) ? name : name.substr(0, dot);
}

std::string py_json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

double py_round(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return std::strtod(buf, nullptr);
}

std::string fixed2(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}

std::string format_table(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  std::string out;
  for (const auto& r : rows) out += r.first + std::string(width - r.first.size() + 2, ' ') + r.second + "\n";
  return out;
}

}  // namespace vrwkv::eval
