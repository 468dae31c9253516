// `visualrwkv demo` draws its data set and plots with OpenCV; builds without OpenCV (the GPU lab)
// keep the command and say why it cannot run.
#include "base/error.h"
#include "commands.h"

int cmd_demo(const std::vector<std::string>&) {
  throw vrwkv::Error("visualrwkv demo needs OpenCV, and this build was made without it");
}
