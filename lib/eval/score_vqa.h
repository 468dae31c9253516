// Pieces of the open-answer scorers (score_vqa.cpp) that the tests look at on their own.
#pragma once
#include <string>

namespace vrwkv::eval {

// The question of a TextVQA answer line, lower-cased, recovered from its prompt: our rendered
// prompts ("User: " + image-first / image-last / sandwich body + "\n\nAssistant:"), the original's
// ("User: <image>\n..."), LLaVA's plain question text ("question\nReference OCR token: ...\n
// instruction") and the "OCR tokens: ... Question: Q Short answer:" form. Throws an Error when no
// question can be found (`where` names the line).
std::string textvqa_question(const std::string& prompt, const std::string& where);

// GQA's clean-up of a prediction before it is compared: trailing periods removed, lower case.
std::string gqa_clean_prediction(const std::string& text);

}  // namespace vrwkv::eval
