// MME, as LLaVA's convert_answer_to_mme.py pairs the answers with MME's ground truth and MME's
// calculation.py scores them: per subtask accuracy and accuracy+ (both questions of an image
// right), score = (acc + acc+) * 100, and the perception / cognition totals.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "eval/answers.h"
#include "eval/questions.h"
#include "eval/score.h"
#include "eval/text_util.h"
#include "eval/yes_no.h"

namespace vrwkv::eval {

std::string mme_yes_no(const std::string& answer) {
  const std::string a = text::lower_ascii(answer);
  if (a == "yes" || a == "no") return a;
  const std::string head = text::first_code_points(a, 4);
  if (head.find("yes") != std::string::npos) return "yes";
  if (head.find("no") != std::string::npos) return "no";
  return "other";
}

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kPerception = {"existence", "count",     "position", "color",   "posters",
                                              "celebrity", "scene",     "landmark", "artwork", "OCR"};
const std::vector<std::string> kCognition = {"commonsense_reasoning", "numerical_calculation", "text_translation",
                                             "code_reasoning"};

constexpr const char* kShortAnswer = "Answer the question using a single word or phrase.";
constexpr const char* kYesNo = "Please answer yes or no.";

// One subtask's ground truth: (file, question) -> "yes" / "no".
using Truth = std::map<std::pair<std::string, std::string>, std::string>;

// The subtask folder holds its .txt files next to the images, or, when it has an images/ folder,
// in questions_answers_YN/. Each line: question TAB answer.
Truth read_truth(const std::string& root, const std::string& category) {
  const fs::path dir = fs::path(root) / category;
  VRWKV_CHECK(fs::is_directory(dir), dir.string(), ": no such subtask folder in the MME release");
  const fs::path qa = fs::is_directory(dir / "images") ? dir / "questions_answers_YN" : dir;
  VRWKV_CHECK(fs::is_directory(qa), qa.string(), ": missing (the subtask's question/answer files)");
  Truth truth;
  for (const auto& e : fs::directory_iterator(qa)) {
    if (e.path().extension() != ".txt") continue;
    const std::string file = e.path().filename().string();
    const std::string body = text::read_file(e.path().string(), "MME ground-truth file");
    int64_t line_no = 0;
    for (size_t pos = 0; pos < body.size();) {
      size_t end = body.find('\n', pos);
      if (end == std::string::npos) end = body.size();
      const std::string line = text::strip(std::string_view(body).substr(pos, end - pos));
      pos = end + 1;
      ++line_no;
      if (line.empty()) continue;
      const size_t tab = line.find('\t');
      VRWKV_CHECK(tab != std::string::npos && line.find('\t', tab + 1) == std::string::npos, e.path().string(), ":",
                  line_no, ": want \"question<TAB>answer\"");
      const std::string answer = text::lower_ascii(line.substr(tab + 1));
      VRWKV_CHECK(answer == "yes" || answer == "no", e.path().string(), ":", line_no, ": the answer must be yes or no, not \"",
                  line.substr(tab + 1), "\"");
      truth[{file, line.substr(0, tab)}] = answer;
    }
  }
  return truth;
}

struct Scored {
  std::string category, file;  // file: the ground-truth .txt the question is in (one per image)
  bool right = false;
  bool other = false;
};

struct Subtask {
  int64_t questions = 0, right = 0, other = 0, images = 0, images_right = 0, odd_images = 0;
  double acc = 0, acc_plus = 0, score = 0;
};

}  // namespace

ScoreReport score_mme(const ScoreInputs& in) {
  VRWKV_CHECK(!in.annotations.empty(), "mme: --annotations must name the MME_Benchmark_release_version folder");
  VRWKV_CHECK(!in.questions.empty(), "mme: --questions must name the question file (llava_mme.jsonl)");
  VRWKV_CHECK(!in.answers.empty(), "mme: --answers is required");
  const auto questions = read_questions(in.questions, QuestionFormat::kJsonLines);
  const auto lines = read_answer_lines(in.answers);

  // MME gives both questions of an image the same id, so answers are matched to questions by id
  // and then, among the questions sharing it, by the question text found in the answer's prompt,
  // else by their order.
  std::map<std::string, std::vector<size_t>> questions_of_id;
  for (size_t i = 0; i < questions.size(); ++i) questions_of_id[id_key(questions[i].question_id)].push_back(i);
  std::vector<const AnswerLine*> answer_of(questions.size(), nullptr);
  std::map<std::string, size_t> seen_of_id;
  int64_t stray = 0;
  for (const auto& a : lines) {
    const std::string key = id_key(a.question_id);
    auto it = questions_of_id.find(key);
    if (it == questions_of_id.end()) {
      ++stray;
      continue;
    }
    const auto& candidates = it->second;
    const size_t nth = seen_of_id[key]++;
    size_t chosen = candidates.size();
    if (candidates.size() == 1) {
      chosen = 0;
    } else {
      size_t hits = 0;
      for (size_t c = 0; c < candidates.size(); ++c) {
        const std::string& t = questions[candidates[c]].text;
        if (!t.empty() && a.prompt.find(t) != std::string::npos) {
          ++hits;
          chosen = c;
        }
      }
      if (hits != 1) {
        VRWKV_CHECK(nth < candidates.size(), a.where, ": more answers for id ", key,
                    " than questions, and the prompt does not tell which question it answers");
        chosen = nth;
      }
    }
    answer_of[candidates[chosen]] = &a;  // a later line for the same question replaces an earlier one
  }
  {
    int64_t missing = 0;
    std::string first;
    for (size_t i = 0; i < questions.size(); ++i)
      if (!answer_of[i]) {
        if (missing < 5) first += (missing ? ", " : "") + questions[i].where;
        ++missing;
      }
    VRWKV_CHECK(missing == 0, in.answers, ": ", missing, " of ", questions.size(),
                " questions have no answer; first: ", first);
  }

  // Each question's subtask and ground-truth file come from its id "<subtask>/<image name>", the
  // file being the image name up to its first dot, plus ".txt".
  std::map<std::string, Truth> truth_of;
  std::vector<Scored> scored;
  for (size_t i = 0; i < questions.size(); ++i) {
    const auto& q = questions[i];
    VRWKV_CHECK(q.question_id.is_string(), q.where, ": an MME question id must be \"<subtask>/<image>\"");
    const std::string id = q.question_id.get<std::string>();
    const size_t slash = id.find('/');
    VRWKV_CHECK(slash != std::string::npos && slash > 0, q.where, ": question id \"", id, "\" is not \"<subtask>/<image>\"");
    Scored s;
    s.category = id.substr(0, slash);
    const std::string image = id.substr(id.rfind('/') + 1);
    s.file = image.substr(0, image.find('.')) + ".txt";
    if (!truth_of.count(s.category)) truth_of[s.category] = read_truth(in.annotations, s.category);
    const Truth& truth = truth_of[s.category];

    // The ground-truth question: the text without the short-answer instruction, and with
    // " Please answer yes or no." when it lacks it (two spaces where the file has two).
    std::string asked = q.text;
    if (asked.find(kShortAnswer) != std::string::npos) asked = text::strip(text::replace_all(asked, kShortAnswer, ""));
    auto it = truth.find({s.file, asked});
    if (it == truth.end() && asked.find(kYesNo) == std::string::npos) {
      it = truth.find({s.file, asked + " " + kYesNo});
      if (it == truth.end()) it = truth.find({s.file, asked + "  " + kYesNo});
    }
    VRWKV_CHECK(it != truth.end(), q.where, ": no ground truth for \"", asked, "\" in ", s.category, "/", s.file,
                " under ", in.annotations);
    const std::string pred = mme_yes_no(answer_of[i]->text);
    s.right = pred == it->second;
    s.other = pred == "other";
    scored.push_back(std::move(s));
  }

  // Per subtask; images in the order their questions come.
  std::map<std::string, Subtask> subtasks;
  std::map<std::string, std::vector<std::string>> image_order;
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> per_image;  // questions, right
  for (const auto& s : scored) {
    auto& t = subtasks[s.category];
    ++t.questions;
    t.right += s.right;
    t.other += s.other;
    auto& img = per_image[{s.category, s.file}];
    if (img.first == 0) image_order[s.category].push_back(s.file);
    ++img.first;
    img.second += s.right;
  }
  int64_t odd = 0;
  for (auto& [name, t] : subtasks) {
    for (const auto& file : image_order[name]) {
      const auto& img = per_image[{name, file}];
      ++t.images;
      if (img.second == img.first) ++t.images_right;
      if (img.first != 2) ++t.odd_images;
    }
    odd += t.odd_images;
    t.acc = 100.0 * static_cast<double>(t.right) / static_cast<double>(t.questions);
    t.acc_plus = 100.0 * static_cast<double>(t.images_right) / static_cast<double>(t.images);
    t.score = t.acc + t.acc_plus;
  }

  ScoreReport r;
  std::string table;
  auto group = [&](const std::string& title, const std::vector<std::string>& names) {
    double total = 0;
    std::vector<std::string> absent;
    std::string rows;
    for (const auto& name : names) {
      auto it = subtasks.find(name);
      if (it == subtasks.end()) {
        absent.push_back(name);
        continue;
      }
      total += it->second.score;
      rows += cat("\t", name, " score: ", text::fixed(it->second.score, 2), " (acc ", text::fixed(it->second.acc, 2),
                  ", acc+ ", text::fixed(it->second.acc_plus, 2), ")\n");
    }
    if (absent.size() == names.size()) return;
    table += cat("=========== ", title, " ===========\ntotal score: ", text::fixed(total, 2), "\n", rows);
    r.metrics[text::lower_ascii(title)] = total;
    if (!absent.empty()) {
      std::string list;
      for (const auto& a : absent) list += (list.empty() ? "" : ", ") + a;
      r.notes.push_back(cat(title, " total leaves out the subtasks with no questions: ", list));
    }
  };
  group("Perception", kPerception);
  group("Cognition", kCognition);
  auto& per = r.metrics["subtasks"];
  per = nlohmann::ordered_json::object();
  std::vector<std::string> order = kPerception;
  order.insert(order.end(), kCognition.begin(), kCognition.end());
  for (const auto& [name, t] : subtasks)
    if (std::find(order.begin(), order.end(), name) == order.end()) {
      order.push_back(name);
      r.notes.push_back(cat("subtask \"", name, "\" is in neither the perception nor the cognition total"));
    }
  for (const auto& name : order) {
    auto it = subtasks.find(name);
    if (it == subtasks.end()) continue;
    const auto& t = it->second;
    per[name] = {{"acc", t.acc},           {"acc_plus", t.acc_plus}, {"score", t.score},
                 {"questions", t.questions}, {"images", t.images},    {"other", t.other}};
  }
  if (odd > 0)
    r.notes.push_back(cat(odd, " images do not have exactly two questions (MME pairs two per image; acc+ counts an "
                               "image when all its questions are right)"));
  if (stray > 0) r.notes.push_back(cat(stray, " answer lines name an id the question file does not have (not scored)"));
  r.table = table;
  return r;
}

}  // namespace vrwkv::eval
