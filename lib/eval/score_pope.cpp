// POPE, as LLaVA's eval_pope.py scores it: per category file coco_pope_<category>.json, the yes/no
// read off each answer, then the confusion matrix and its ratios.
#include <algorithm>
#include <filesystem>
#include <map>

#include "base/error.h"
#include "eval/answers.h"
#include "eval/questions.h"
#include "eval/score.h"
#include "eval/text_util.h"
#include "eval/yes_no.h"

namespace vrwkv::eval {

bool pope_says_yes(const std::string& answer) {
  std::string t = answer;
  const size_t dot = t.find('.');
  if (dot != std::string::npos) t.resize(dot);
  t.erase(std::remove(t.begin(), t.end(), ','), t.end());
  size_t start = 0;
  for (;;) {
    const size_t sp = t.find(' ', start);
    const std::string word = t.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
    if (word == "No" || word == "not" || word == "no") return false;
    if (sp == std::string::npos) break;
    start = sp + 1;
  }
  return true;
}

namespace {

namespace fs = std::filesystem;

struct Label {
  bool yes;
  std::string image;  // the label line's image, to check the pairing
  std::string where;
};

std::vector<Label> read_labels(const std::string& path) {
  std::vector<Label> out;
  text::for_each_json_line<nlohmann::json>(path, "POPE label file", [&](const nlohmann::json& rec,
                                                                        const std::string& where) {
    VRWKV_CHECK(rec.is_object() && rec.contains("label") && rec["label"].is_string(), where,
                ": a label line needs \"label\" (a string)");
    Label l;
    l.yes = rec["label"].get<std::string>() != "no";  // anything but "no" counts as yes, as in eval_pope.py
    if (rec.contains("image") && rec["image"].is_string()) l.image = rec["image"].get<std::string>();
    l.where = where;
    out.push_back(std::move(l));
  });
  return out;
}

std::string base_name(const std::string& p) { return fs::path(p).filename().string(); }

double ratio(int64_t num, int64_t den) { return den ? static_cast<double>(num) / static_cast<double>(den) : 0.0; }

}  // namespace

ScoreReport score_pope(const ScoreInputs& in) {
  VRWKV_CHECK(!in.annotations.empty(), "pope: --annotations must name the folder with coco_pope_*.json");
  VRWKV_CHECK(!in.questions.empty(), "pope: --questions must name the question file (its \"category\" picks the label file)");
  VRWKV_CHECK(!in.answers.empty(), "pope: --answers is required");
  VRWKV_CHECK(fs::is_directory(in.annotations), in.annotations, ": not a folder (want the one with coco_pope_*.json)");

  std::vector<std::pair<std::string, std::string>> files;  // category, path
  for (const auto& e : fs::directory_iterator(in.annotations)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 15 && name.compare(0, 10, "coco_pope_") == 0 && name.compare(name.size() - 5, 5, ".json") == 0)
      files.emplace_back(name.substr(10, name.size() - 15), e.path().string());
  }
  std::sort(files.begin(), files.end());
  VRWKV_CHECK(!files.empty(), in.annotations, ": no coco_pope_<category>.json label files");

  const auto questions = read_questions(in.questions, QuestionFormat::kJsonLines);
  const auto answers = answers_by_id(read_answer_lines(in.answers));

  ScoreReport r;
  std::string table;
  double sum_acc = 0, sum_prec = 0, sum_rec = 0, sum_f1 = 0, sum_yes = 0;
  int64_t scored_questions = 0;
  for (const auto& [category, path] : files) {
    std::vector<const Question*> qs;
    for (const auto& q : questions)
      if (q.metadata.contains("category") && q.metadata["category"] == category) qs.push_back(&q);
    const auto labels = read_labels(path);
    VRWKV_CHECK(qs.size() == labels.size(), in.questions, ": ", qs.size(), " questions of category \"", category,
                "\" but ", path, " has ", labels.size(), " labels (they are paired in order)");
    std::vector<std::string> ids;
    for (const auto* q : qs) ids.push_back(id_key(q->question_id));
    require_answers(answers, ids, in.answers);

    int64_t tp = 0, fp = 0, tn = 0, fn = 0, yes = 0;
    for (size_t i = 0; i < qs.size(); ++i) {
      // The label files carry no ids that match the questions: the i-th question of the category
      // goes with the i-th label, so check the pairing through the image names.
      if (!labels[i].image.empty() && !qs[i]->image_path.empty())
        VRWKV_CHECK(base_name(labels[i].image) == base_name(qs[i]->image_path), labels[i].where, ": image \"",
                    labels[i].image, "\" but the question paired with it (", qs[i]->where, ") shows \"",
                    qs[i]->image_path, "\": the questions of \"", category, "\" are not in the label file's order");
      const bool pred = pope_says_yes(answers.at(ids[i]).text);
      yes += pred;
      if (pred && labels[i].yes) ++tp;
      else if (pred && !labels[i].yes) ++fp;
      else if (!pred && !labels[i].yes) ++tn;
      else ++fn;
    }
    const int64_t n = static_cast<int64_t>(qs.size());
    VRWKV_CHECK(n > 0, path, ": no labels");
    scored_questions += n;
    const double precision = ratio(tp, tp + fp), recall = ratio(tp, tp + fn);
    const double f1 = (precision + recall) > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    const double acc = ratio(tp + tn, n), yes_ratio = ratio(yes, n);
    if (tp + fp == 0) r.notes.push_back(cat(category, ": no answer says yes, precision taken as 0"));
    if (tp + fn == 0) r.notes.push_back(cat(category, ": no label is yes, recall taken as 0"));
    auto& m = r.metrics[category];
    m["samples"] = n;
    m["TP"] = tp;
    m["FP"] = fp;
    m["TN"] = tn;
    m["FN"] = fn;
    m["accuracy"] = acc;
    m["precision"] = precision;
    m["recall"] = recall;
    m["f1"] = f1;
    m["yes_ratio"] = yes_ratio;
    sum_acc += acc;
    sum_prec += precision;
    sum_rec += recall;
    sum_f1 += f1;
    sum_yes += yes_ratio;
    table += cat("Category: ", category, ", # samples: ", n, "\nTP\tFP\tTN\tFN\n", tp, "\t", fp, "\t", tn, "\t", fn,
                 "\nF1 ", text::fixed(f1, 3), ", Acc ", text::fixed(acc, 3), ", Precision ", text::fixed(precision, 3),
                 ", Recall ", text::fixed(recall, 3), ", Yes ratio ", text::fixed(yes_ratio, 3), "\n");
  }
  const double k = static_cast<double>(files.size());
  auto& avg = r.metrics["average"];
  avg["accuracy"] = sum_acc / k;
  avg["precision"] = sum_prec / k;
  avg["recall"] = sum_rec / k;
  avg["f1"] = sum_f1 / k;
  avg["yes_ratio"] = sum_yes / k;
  table += cat("Average over ", files.size(), " categories: F1 ", text::fixed(sum_f1 / k, 3), ", Acc ",
               text::fixed(sum_acc / k, 3), ", Precision ", text::fixed(sum_prec / k, 3), ", Recall ",
               text::fixed(sum_rec / k, 3), ", Yes ratio ", text::fixed(sum_yes / k, 3), "\n");
  if (scored_questions < static_cast<int64_t>(questions.size()))
    r.notes.push_back(cat(static_cast<int64_t>(questions.size()) - scored_questions,
                          " questions belong to no coco_pope_<category>.json in ", in.annotations, " (not scored)"));
  r.table = table;
  return r;
}

}  // namespace vrwkv::eval
