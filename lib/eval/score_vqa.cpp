// The open-answer scorers: VQAv2 val, VizWiz val, TextVQA val, GQA testdev-balanced (the rules are
// written down in docs/eval.md).
#include "eval/score_vqa.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/error.h"
#include "eval/answers.h"
#include "eval/normalize.h"
#include "eval/score.h"

namespace vrwkv::eval {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

void require_input(const std::string& value, const std::string& option, const std::string& scorer) {
  VRWKV_CHECK(!value.empty(), scorer, " needs ", option);
}

std::string string_field(const json& obj, const char* key, const std::string& where) {
  VRWKV_CHECK(obj.is_object() && obj.contains(key) && obj[key].is_string(), where, ": needs \"", key,
              "\" (a string)");
  return obj[key].get<std::string>();
}

// The human answers of one VQA-style record: "answers": [{"answer": ...}, ...].
std::vector<std::string> human_answers(const json& record, const std::string& where) {
  VRWKV_CHECK(record.is_object() && record.contains("answers") && record["answers"].is_array() &&
                  !record["answers"].empty(),
              where, ": needs \"answers\" (a non-empty list)");
  std::vector<std::string> out;
  for (size_t i = 0; i < record["answers"].size(); ++i)
    out.push_back(string_field(record["answers"][i], "answer", cat(where, ".answers[", i, "]")));
  return out;
}

// A mean over groups that appear in first-seen order, for the per-type tables.
struct GroupMeans {
  std::vector<std::string> order;
  std::map<std::string, std::pair<double, int64_t>> sums;
  void add(const std::string& group, double value) {
    auto it = sums.find(group);
    if (it == sums.end()) order.push_back(group), it = sums.emplace(group, std::make_pair(0.0, int64_t{0})).first;
    it->second.first += value;
    it->second.second += 1;
  }
  double mean(const std::string& group) const {
    const auto& s = sums.at(group);
    return s.second ? s.first / static_cast<double>(s.second) : 0.0;
  }
};

// The ids of a question file, by id_key, each checked against `known` (the annotation ids).
std::vector<std::string> question_ids(const std::string& path, const std::set<std::string>& known,
                                      const std::string& what) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& q : read_question_refs(path)) {
    const std::string key = id_key(q.question_id);
    VRWKV_CHECK(known.count(key), q.where, ": question ", key, " is not in the ", what);
    if (seen.insert(key).second) out.push_back(key);
  }
  return out;
}

// The VQA evaluation tool's figures: per question the leave-one-out accuracy; overall, per answer
// type and per question type as percentages rounded to 2 decimals, as the tool rounds them.
struct VqaTally {
  std::vector<double> all;
  GroupMeans per_answer_type, per_question_type;
};

ScoreReport vqa_report(const std::string& title, const VqaTally& t, bool with_question_types) {
  ScoreReport r;
  double sum = 0;
  for (double a : t.all) sum += a;
  const double overall = t.all.empty() ? 0.0 : 100.0 * sum / static_cast<double>(t.all.size());
  r.metrics["overall"] = py_round(overall, 2);
  r.metrics["questions"] = t.all.size();
  ojson per_answer = ojson::object();
  std::vector<std::pair<std::string, std::string>> rows = {{title + " overall", fixed2(overall)},
                                                           {"questions", std::to_string(t.all.size())}};
  for (const auto& type : t.per_answer_type.order) {
    const double v = 100.0 * t.per_answer_type.mean(type);
    per_answer[type] = py_round(v, 2);
    rows.push_back({"  " + type, fixed2(v) + "  (" + std::to_string(t.per_answer_type.sums.at(type).second) + ")"});
  }
  r.metrics["perAnswerType"] = per_answer;
  if (with_question_types) {
    ojson per_question = ojson::object();
    for (const auto& type : t.per_question_type.order)
      per_question[type] = py_round(100.0 * t.per_question_type.mean(type), 2);
    r.metrics["perQuestionType"] = per_question;
  }
  r.table = format_table(rows);
  return r;
}

}  // namespace

// ---- VQAv2 val -------------------------------------------------------------------------------

ScoreReport score_vqav2(const ScoreInputs& in) {
  require_input(in.answers, "--answers", "vqav2");
  require_input(in.annotations, "--annotations v2_mscoco_val2014_annotations.json", "vqav2");
  const json file = read_json_file(in.annotations, "VQAv2 annotations");
  VRWKV_CHECK(file.is_object() && file.contains("annotations") && file["annotations"].is_array(), in.annotations,
              ": expected {\"annotations\": [...]}");
  const json& records = file["annotations"];
  std::map<std::string, size_t> by_id;
  std::vector<std::string> all_ids;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string where = cat(in.annotations, ": annotations[", i, "]");
    VRWKV_CHECK(records[i].is_object() && records[i].contains("question_id"), where, ": needs \"question_id\"");
    const std::string key = id_key(records[i]["question_id"]);
    if (by_id.emplace(key, i).second) all_ids.push_back(key);
    else by_id[key] = i;
  }
  const auto answers = answers_by_id(read_answer_lines(in.answers));
  std::set<std::string> known;
  for (const auto& [k, v] : by_id) known.insert(k);
  const auto wanted = in.questions.empty() ? all_ids : question_ids(in.questions, known, "VQAv2 annotations");
  for (const auto& [key, a] : answers)
    VRWKV_CHECK(known.count(key), a.where, ": question ", key, " is not in ", in.annotations);
  require_answers(answers, wanted, in.answers);

  VqaTally tally;
  for (const auto& key : wanted) {
    const json& rec = records[by_id.at(key)];
    const std::string where = cat(in.annotations, ": question ", key);
    auto humans = human_answers(rec, where);
    // The tool normalises the prediction fully; the human answers only lose punctuation, and only
    // when they disagree among themselves.
    const std::string prediction = vqa_normalize_prediction(answers.at(key).text);
    if (std::set<std::string>(humans.begin(), humans.end()).size() > 1)
      for (auto& h : humans) h = vqa_punctuation(h);
    const double acc = leave_one_out_accuracy(prediction, humans);
    tally.all.push_back(acc);
    tally.per_answer_type.add(string_field(rec, "answer_type", where), acc);
    tally.per_question_type.add(string_field(rec, "question_type", where), acc);
  }
  auto r = vqa_report("VQAv2", tally, true);
  if (wanted.size() < all_ids.size())
    r.notes.push_back(cat("scored the ", wanted.size(), " questions of ", in.questions, ", not all ", all_ids.size(),
                          " of the annotations"));
  if (answers.size() > wanted.size())
    r.notes.push_back(cat(answers.size() - wanted.size(), " answers are for questions outside the scored set (ignored)"));
  return r;
}

// ---- VizWiz val ------------------------------------------------------------------------------

ScoreReport score_vizwiz(const ScoreInputs& in) {
  require_input(in.answers, "--answers", "vizwiz");
  require_input(in.annotations, "--annotations val.json", "vizwiz");
  const json records = read_json_file(in.annotations, "VizWiz annotations");
  VRWKV_CHECK(records.is_array(), in.annotations, ": expected a list of {image, question, answers, answer_type}");
  // The records are matched by image name: one question per image in VizWiz.
  std::map<std::string, size_t> by_image;
  std::vector<std::string> all_images;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string image = file_name(string_field(records[i], "image", cat(in.annotations, ": [", i, "]")));
    if (by_image.emplace(image, i).second) all_images.push_back(image);
    else by_image[image] = i;
  }

  // Which image an answer line is about: the image its line names, else the image of its question
  // in --questions, else LLaVA's numbering (question_id i is the i-th record of the annotations).
  std::map<std::string, std::string> image_of_question;
  std::vector<std::string> wanted = all_images;
  if (!in.questions.empty()) {
    wanted.clear();
    std::set<std::string> seen;
    for (const auto& q : read_question_refs(in.questions)) {
      VRWKV_CHECK(!q.image.empty(), q.where, ": a VizWiz question needs \"image\"");
      const std::string image = file_name(q.image);
      VRWKV_CHECK(by_image.count(image), q.where, ": image ", image, " is not in ", in.annotations);
      image_of_question[id_key(q.question_id)] = image;
      if (seen.insert(image).second) wanted.push_back(image);
    }
  }
  std::map<std::string, AnswerLine> by_answer_image;
  for (auto& a : read_answer_lines(in.answers)) {
    std::string image = file_name(answer_image_file(a.record));
    if (image.empty()) {
      const std::string key = id_key(a.question_id);
      if (auto it = image_of_question.find(key); it != image_of_question.end()) {
        image = it->second;
      } else {
        VRWKV_CHECK(a.question_id.is_number_integer() || a.question_id.is_number_unsigned(), a.where,
                    ": the line names no image and question_id ", key,
                    " is not a record number (give --questions to map ids to images)");
        const auto index = a.question_id.get<int64_t>();
        VRWKV_CHECK(index >= 0 && index < static_cast<int64_t>(records.size()), a.where, ": question_id ", index,
                    " is past the ", records.size(), " records of ", in.annotations);
        image = file_name(records[static_cast<size_t>(index)]["image"].get<std::string>());
      }
    }
    VRWKV_CHECK(by_image.count(image), a.where, ": image ", image, " is not in ", in.annotations);
    by_answer_image[image] = std::move(a);
  }
  require_answers(by_answer_image, wanted, in.answers);

  VqaTally tally;
  for (const auto& image : wanted) {
    const json& rec = records[by_image.at(image)];
    const std::string where = cat(in.annotations, ": ", image);
    // The VizWiz tool normalises the prediction and compares it with the human answers as they are.
    const double acc = leave_one_out_accuracy(vqa_normalize_prediction(by_answer_image.at(image).text),
                                              human_answers(rec, where));
    tally.all.push_back(acc);
    tally.per_answer_type.add(string_field(rec, "answer_type", where), acc);
  }
  auto r = vqa_report("VizWiz", tally, false);
  if (wanted.size() < all_images.size())
    r.notes.push_back(cat("scored the ", wanted.size(), " questions of ", in.questions, ", not all ", all_images.size(),
                          " of the annotations"));
  if (by_answer_image.size() > wanted.size())
    r.notes.push_back(cat(by_answer_image.size() - wanted.size(),
                          " answers are for images outside the scored set (ignored)"));
  return r;
}

// ---- TextVQA val -----------------------------------------------------------------------------

std::string textvqa_question(const std::string& prompt, const std::string& where) {
  std::string p = prompt;
  if (starts_with(p, "User: ")) p = p.substr(6);  // our rendered prompts and the original's
  if (starts_with(p, "<image>\n")) p = p.substr(8);  // image-first
  std::string question;
  if (starts_with(p, "OCR tokens: ")) {
    const auto start = p.find("Question: ");
    const auto end = start == std::string::npos ? start : p.find(" Short answer:", start + 10);
    VRWKV_CHECK(end != std::string::npos, where, ": an \"OCR tokens:\" prompt without \"Question: ... Short answer:\"");
    question = p.substr(start + 10, end - start - 10);
  } else {
    std::vector<std::string> lines;
    size_t pos = 0;
    for (size_t nl; (nl = p.find('\n', pos)) != std::string::npos; pos = nl + 1) lines.push_back(p.substr(pos, nl - pos));
    lines.push_back(p.substr(pos));
    // LLaVA's prompts may put the OCR tokens first; the question is then the second line.
    question = (starts_with(p, "Reference OCR token:") && lines.size() > 1) ? lines[1] : lines[0];
  }
  VRWKV_CHECK(!question.empty(), where, ": cannot find the question in the prompt");
  return eval::text::lower_ascii(question);
}

ScoreReport score_textvqa(const ScoreInputs& in) {
  require_input(in.answers, "--answers", "textvqa");
  require_input(in.annotations, "--annotations TextVQA_0.5.1_val.json", "textvqa");
  const json file = read_json_file(in.annotations, "TextVQA annotations");
  VRWKV_CHECK(file.is_object() && file.contains("data") && file["data"].is_array(), in.annotations,
              ": expected {\"data\": [...]}");
  const json& records = file["data"];
  using Key = std::pair<std::string, std::string>;  // (image id, lower-cased question)
  // Annotations are found by key; a later record wins, as in a dict. A key can come more than once
  // (the same question asked twice about one image): each such question is answered and scored on
  // its own, against the record that wins.
  std::map<Key, size_t> by_key;
  std::vector<Key> key_order;                        // keys to score, first-seen order
  std::map<Key, std::vector<std::string>> labels;    // one per question with that key, for messages
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string where = cat(in.annotations, ": data[", i, "]");
    const Key key(string_field(records[i], "image_id", where), eval::text::lower_ascii(string_field(records[i], "question", where)));
    if (!by_key.count(key)) key_order.push_back(key);
    by_key[key] = i;
    labels[key].push_back(records[i].contains("question_id") ? id_key(records[i]["question_id"])
                                                             : key.first + "/" + key.second);
  }
  std::map<std::string, std::set<std::string>> images_of_question;
  if (!in.questions.empty()) {
    std::map<Key, std::vector<std::string>> asked;
    key_order.clear();
    for (const auto& q : read_question_refs(in.questions)) {
      VRWKV_CHECK(!q.image.empty() && !q.text.empty(), q.where, ": a TextVQA question needs \"image\" and \"text\"");
      const Key key(file_stem(q.image), textvqa_question(q.text, q.where));
      VRWKV_CHECK(by_key.count(key), q.where, ": no annotation for image ", key.first, " and question \"", key.second,
                  "\" in ", in.annotations);
      if (!asked.count(key)) key_order.push_back(key);
      const std::string id = id_key(q.question_id);
      const size_t n = asked[key].size();
      asked[key].push_back(n ? cat(id, " (#", n + 1, ")") : id);
      images_of_question[id].insert(key.first);
    }
    labels = std::move(asked);
  }

  // The answer lines of each key, in file order.
  std::map<Key, std::vector<AnswerLine>> lines;
  for (auto& a : read_answer_lines(in.answers)) {
    std::string image = file_stem(answer_image_file(a.record));
    if (image.empty()) {
      const std::string id = id_key(a.question_id);
      auto it = images_of_question.find(id);
      // LLaVA's TextVQA question ids are the image ids.
      image = (it != images_of_question.end() && it->second.size() == 1) ? *it->second.begin() : id;
    }
    VRWKV_CHECK(!a.prompt.empty(), a.where, ": a TextVQA answer line needs its \"prompt\" (the question is read from it)");
    const Key key(image, textvqa_question(a.prompt, a.where));
    VRWKV_CHECK(by_key.count(key), a.where, ": no annotation for image ", key.first, " and question \"", key.second,
                "\" in ", in.annotations);
    lines[key].push_back(std::move(a));
  }
  // Every question needs an answer line; when a key has more lines than questions, the last ones
  // count (a resumed run repeats the line it was writing).
  std::map<std::string, AnswerLine> answered;
  std::vector<std::string> wanted_labels;
  int64_t repeated = 0, outside = 0;
  for (const auto& [key, list] : lines)
    if (!labels.count(key)) outside += static_cast<int64_t>(list.size());
  for (const auto& key : key_order) {
    const auto& names = labels.at(key);
    const auto it = lines.find(key);
    const size_t have = it == lines.end() ? 0 : it->second.size();
    for (size_t n = 0; n < names.size(); ++n) {
      wanted_labels.push_back(names[n]);
      if (n < have) answered[names[n]] = it->second[have - std::min(have, names.size()) + n];
    }
    if (have > names.size()) repeated += static_cast<int64_t>(have - names.size());
  }
  require_answers(answered, wanted_labels, in.answers);

  double sum = 0;
  size_t samples = 0;
  for (const auto& key : key_order) {
    const size_t i = by_key.at(key);
    const std::string where = cat(in.annotations, ": data[", i, "]");
    VRWKV_CHECK(records[i].contains("answers") && records[i]["answers"].is_array() && records[i]["answers"].size() == 10,
                where, ": needs \"answers\" with 10 human answers");
    std::vector<std::string> humans;
    for (const auto& h : records[i]["answers"]) {
      VRWKV_CHECK(h.is_string(), where, ": \"answers\" must hold strings");
      humans.push_back(evalai_normalize(h.get<std::string>()));
    }
    for (const auto& name : labels.at(key)) {
      sum += leave_one_out_accuracy(evalai_normalize(answered.at(name).text), humans);
      ++samples;
    }
  }
  const auto& wanted = wanted_labels;
  VRWKV_CHECK(!wanted.empty(), in.annotations, ": no questions to score");
  const double accuracy = 100.0 * sum / static_cast<double>(samples);
  ScoreReport r;
  r.metrics["Samples"] = samples;
  r.metrics["Accuracy"] = accuracy;
  r.table = format_table({{"TextVQA samples", std::to_string(samples)}, {"accuracy", fixed2(accuracy) + "%"}});
  if (repeated) r.notes.push_back(cat(repeated, " repeated answer lines: the last answer of each question counts"));
  if (outside) r.notes.push_back(cat(outside, " answers are for questions outside ", in.questions, " (ignored)"));
  return r;
}

// ---- GQA testdev-balanced ---------------------------------------------------------------------

std::string gqa_clean_prediction(const std::string& text) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '.') --end;
  return eval::text::lower_ascii(text.substr(0, end));
}

ScoreReport score_gqa(const ScoreInputs& in) {
  require_input(in.answers, "--answers", "gqa");
  require_input(in.annotations, "--annotations testdev_balanced_questions.json", "gqa");
  const json questions = read_json_file(in.annotations, "GQA questions");
  VRWKV_CHECK(questions.is_object(), in.annotations, ": expected {question_id: {answer, ...}}");
  std::vector<std::string> wanted;
  std::set<std::string> known;
  for (const auto& [qid, q] : questions.items()) {
    VRWKV_CHECK(q.is_object(), in.annotations, ": question ", qid, " is not an object");
    known.insert(qid);
    wanted.push_back(qid);
  }
  if (!in.questions.empty()) wanted = question_ids(in.questions, known, "GQA questions");
  const auto answers = answers_by_id(read_answer_lines(in.answers));
  require_answers(answers, wanted, in.answers);

  std::vector<double> accuracy, binary, open;
  GroupMeans structural, semantic;
  std::map<std::string, std::map<std::string, int64_t>> gold_dist, predicted_dist;
  std::vector<std::string> group_order;
  int64_t widened = 0, unbalanced = 0;
  for (const auto& qid : wanted) {
    const json& q = questions[qid];
    const std::string where = cat(in.annotations, ": question ", qid);
    const std::string predicted = gqa_clean_prediction(answers.at(qid).text);
    bool correct = false;
    std::string gold;
    if (q.contains("answers") && q["answers"].is_array()) {
      // The widened rule: any of the listed answers counts.
      ++widened;
      for (const auto& g : q["answers"]) {
        VRWKV_CHECK(g.is_string(), where, ": \"answers\" must hold strings");
        correct = correct || g.get<std::string>() == predicted;
        gold += (gold.empty() ? "" : ";") + g.get<std::string>();
      }
    } else {
      gold = string_field(q, "answer", where);
      correct = predicted == gold;
    }
    const bool balanced = !q.contains("isBalanced") || q["isBalanced"] == true;
    if (!balanced) {
      ++unbalanced;
      continue;
    }
    const double score = correct ? 1.0 : 0.0;
    accuracy.push_back(score);
    if (q.contains("types") && q["types"].is_object()) {
      const auto& t = q["types"];
      if (t.contains("structural") && t["structural"].is_string()) {
        const std::string s = t["structural"].get<std::string>();
        structural.add(s, score);
        (s == "query" ? open : binary).push_back(score);
      }
      if (t.contains("semantic") && t["semantic"].is_string()) semantic.add(t["semantic"].get<std::string>(), score);
    }
    if (q.contains("groups") && q["groups"].is_object() && q["groups"].contains("global") &&
        q["groups"]["global"].is_string()) {
      const std::string group = q["groups"]["global"].get<std::string>();
      if (!gold_dist.count(group)) group_order.push_back(group);
      gold_dist[group][gold] += 1;
      predicted_dist[group][predicted] += 1;
    }
  }
  auto avg = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : 100.0 * s / static_cast<double>(v.size());
  };
  ScoreReport r;
  r.metrics["Binary"] = avg(binary);
  r.metrics["Open"] = avg(open);
  r.metrics["Accuracy"] = avg(accuracy);
  std::vector<std::pair<std::string, std::string>> rows = {{"GQA accuracy", fixed2(avg(accuracy)) + "%"},
                                                           {"binary", fixed2(avg(binary)) + "%"},
                                                           {"open", fixed2(avg(open)) + "%"}};
  // The distribution score: chi-square of predicted against gold answer counts per global group,
  // weighted by the group's size, divided by 100 (lower is better).
  if (!group_order.empty()) {
    double weighted = 0, total = 0;
    for (const auto& group : group_order) {
      double score = 0, overall = 0;
      for (const auto& [answer, expected] : gold_dist[group]) {
        const auto it = predicted_dist[group].find(answer);
        const double observed = it == predicted_dist[group].end() ? 0.0 : static_cast<double>(it->second);
        score += (observed - static_cast<double>(expected)) * (observed - static_cast<double>(expected)) /
                 static_cast<double>(expected);
        overall += static_cast<double>(expected);
      }
      weighted += score * overall;
      total += overall;
    }
    const double distribution = weighted / total / 100.0;
    r.metrics["Distribution"] = distribution;
    rows.push_back({"distribution", fixed2(distribution) + " (lower is better)"});
  }
  auto per_type = [&](const GroupMeans& g, const std::string& title) {
    ojson out = ojson::object();
    std::set<std::string> sorted(g.order.begin(), g.order.end());
    for (const auto& t : sorted) {
      out[t] = {{"accuracy", 100.0 * g.mean(t)}, {"questions", g.sums.at(t).second}};
      rows.push_back({"  " + title + " " + t, fixed2(100.0 * g.mean(t)) + "%  (" + std::to_string(g.sums.at(t).second) + ")"});
    }
    return out;
  };
  r.metrics["Accuracy / structural type"] = per_type(structural, "structural");
  r.metrics["Accuracy / semantic type"] = per_type(semantic, "semantic");
  r.metrics["questions"] = accuracy.size();
  rows.insert(rows.begin() + 1, {"questions", std::to_string(accuracy.size())});
  r.table = format_table(rows);
  if (widened)
    r.notes.push_back(cat(widened, " questions carry an \"answers\" list: a prediction is correct when it is one of them"));
  if (unbalanced) r.notes.push_back(cat(unbalanced, " questions are not balanced (isBalanced false) and are not counted"));
  return r;
}

}  // namespace vrwkv::eval
